package embed_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/trellisnet/trellis/internal/store/embed"
)

func start(t *testing.T, dataDir, client string) (*embed.Server, error) {
	t.Helper()
	srv := embed.New(embed.Config{
		Name:             "trl-embed",
		DataDir:          dataDir,
		ListenClientURLs: []string{client},
		UnsafeNoFsync:    true,
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := srv.Start(ctx)
	if err == nil {
		t.Cleanup(srv.Stop)
	}
	return srv, err
}

func put(t *testing.T, endpoint, key string) error {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = cli.Put(ctx, key, "v")
	return err
}

// The server serves etcd clients on a unix socket, and a second server refuses to take
// over a socket that a live one serves.
func TestUnixSocketAndSocketInUse(t *testing.T) {
	dir := t.TempDir()
	sock := "unix://" + filepath.Join(dir, "sub", "client.sock") // directory created by Start
	if _, err := start(t, filepath.Join(dir, "a"), sock); err != nil {
		t.Fatalf("start: %v", err)
	}
	if err := put(t, sock, "/trl/a"); err != nil {
		t.Fatalf("put through the unix socket: %v", err)
	}
	_, err := start(t, filepath.Join(dir, "b"), sock)
	if err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("second server on the same socket: %v, want an 'in use' error", err)
	}
	if err := put(t, sock, "/trl/b"); err != nil {
		t.Fatalf("first server after the refused start: %v", err)
	}
}

// Data survives a restart from the same directory.
func TestRestartKeepsData(t *testing.T) {
	dir := t.TempDir()
	sock := "unix://" + filepath.Join(dir, "client.sock")
	srv, err := start(t, filepath.Join(dir, "data"), sock)
	if err != nil {
		t.Fatal(err)
	}
	if err := put(t, sock, "/trl/kept"); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	if _, err := start(t, filepath.Join(dir, "data"), sock); err != nil {
		t.Fatalf("restart: %v", err)
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{sock}, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, "/trl/kept")
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("after restart: %v, %v; want the key", resp, err)
	}
}

func TestBadURL(t *testing.T) {
	_, err := start(t, t.TempDir(), "tcp://127.0.0.1:2379")
	if err == nil || !strings.Contains(err.Error(), "scheme") {
		t.Fatalf("start with a tcp:// URL: %v, want a scheme error", err)
	}
}

// A second server on a data directory a running one holds fails at once, naming the
// holder's pid, and leaves the first one serving; after the first stops, the directory is
// free again.
func TestDataDirInUse(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	first := "unix://" + filepath.Join(dir, "a.sock")
	srv, err := start(t, data, first)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	begin := time.Now()
	_, err = start(t, data, "unix://"+filepath.Join(dir, "b.sock"))
	if !errors.Is(err, embed.ErrDataDirInUse) || !strings.Contains(err.Error(), fmt.Sprintf("(pid %d)", os.Getpid())) {
		t.Fatalf("second server on the same data dir: %v, want ErrDataDirInUse naming pid %d", err, os.Getpid())
	}
	if d := time.Since(begin); d > 5*time.Second {
		t.Errorf("refusal took %v", d)
	}
	if err := put(t, first, "/trl/a"); err != nil {
		t.Fatalf("first server after the refused start: %v", err)
	}
	srv.Stop()
	if _, err := start(t, data, "unix://"+filepath.Join(dir, "c.sock")); err != nil {
		t.Fatalf("start after the first stopped: %v", err)
	}
}
