package embed

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// ErrDataDirInUse is returned by Start when another datastore holds the data directory.
var ErrDataDirInUse = errors.New("data dir is in use")

// lockFile is the lock a server holds on its data directory while it runs; it holds the
// holder's pid.
const lockFile = "trellis.lock"

// lockDataDir takes the data directory's lock without waiting, so a second datastore on the
// same directory fails at once instead of blocking inside etcd's database open. It also
// refuses a database another process (an etcd not started by Trellis) holds open.
func lockDataDir(dir string) (*os.File, error) {
	path := filepath.Join(dir, lockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock data dir %s: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		pid := readPID(f)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s (pid %s)", ErrDataDirInUse, dir, pid)
		}
		return nil, fmt.Errorf("lock data dir %s: %w", dir, err)
	}
	if err := dbFree(dir); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return f, nil
}

func readPID(f *os.File) string {
	b := make([]byte, 32)
	n, _ := f.ReadAt(b, 0)
	if pid := strings.TrimSpace(string(b[:n])); pid != "" {
		return pid
	}
	return "unknown"
}

// dbFree checks that no other process holds etcd's database file locked (bbolt takes an
// exclusive flock on it and would otherwise make us wait forever).
func dbFree(dir string) error {
	db := filepath.Join(dir, "member", "snap", "db")
	f, err := os.Open(db)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("lock data dir %s: %w", dir, err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err != nil {
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return fmt.Errorf("%w: %s (its database %s is open in another process)", ErrDataDirInUse, dir, db)
		}
		return fmt.Errorf("lock data dir %s: %w", dir, err)
	}
	return syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
}
