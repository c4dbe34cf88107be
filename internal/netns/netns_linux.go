package netns

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Dir is where named namespaces are bound, as with `ip netns`.
const Dir = "/run/netns"

// Path returns the bind-mount path of the named namespace.
func Path(name string) string { return filepath.Join(Dir, name) }

// Exists reports whether a named namespace exists.
func Exists(name string) bool {
	_, err := os.Stat(Path(name))
	return err == nil
}

// Create makes a new named network namespace. The calling thread's namespace is
// unchanged when it returns.
func Create(name string) (err error) {
	if name == "" {
		return errors.New("create network namespace: empty name")
	}
	if err := prepareDir(); err != nil {
		return fmt.Errorf("create network namespace %s: %w", name, err)
	}
	runtime.LockOSThread()
	orig, err := vnetns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("create network namespace %s: get current: %w", name, err)
	}
	defer orig.Close()
	h, err := vnetns.NewNamed(name)
	if rerr := vnetns.Set(orig); rerr != nil {
		// Leave the thread locked: the runtime kills it when the goroutine exits.
		if err == nil {
			h.Close()
		}
		return fmt.Errorf("create network namespace %s: restore original namespace: %w", name, rerr)
	}
	runtime.UnlockOSThread()
	if err != nil {
		return fmt.Errorf("create network namespace %s: %w", name, err)
	}
	h.Close()
	return nil
}

// prepareDir makes Dir a shared mount point of its own, as `ip netns add` does, before
// any namespace is bound under it. Otherwise a later `ip netns add` (by anyone) bind-mounts
// Dir over itself, hiding namespaces bound before, which then can never be unmounted.
func prepareDir() error {
	if err := os.MkdirAll(Dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", Dir, err)
	}
	err := unix.Mount("", Dir, "none", unix.MS_SHARED|unix.MS_REC, "")
	if errors.Is(err, unix.EINVAL) {
		if err := unix.Mount(Dir, Dir, "none", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("bind-mount %s on itself: %w", Dir, err)
		}
		err = unix.Mount("", Dir, "none", unix.MS_SHARED|unix.MS_REC, "")
	}
	if err != nil {
		return fmt.Errorf("make %s a shared mount: %w", Dir, err)
	}
	return nil
}

// Delete removes a named network namespace. A missing namespace is not an error.
func Delete(name string) error {
	if name == "" {
		return errors.New("delete network namespace: empty name")
	}
	if !Exists(name) {
		return nil
	}
	if err := vnetns.DeleteNamed(name); err != nil {
		return fmt.Errorf("delete network namespace %s: %w", name, err)
	}
	return nil
}

// Handle opens the named namespace; the caller closes the returned file descriptor.
func Handle(name string) (vnetns.NsHandle, error) {
	h, err := vnetns.GetFromName(name)
	if err != nil {
		return h, fmt.Errorf("open network namespace %s: %w", name, err)
	}
	return h, nil
}

// Do runs fn with the calling goroutine's OS thread inside the named namespace and
// restores the original namespace afterwards.
func Do(name string, fn func() error) error {
	target, err := Handle(name)
	if err != nil {
		return err
	}
	defer target.Close()
	return DoHandle(target, fn)
}

// DoHandle is Do for an already opened namespace handle.
func DoHandle(target vnetns.NsHandle, fn func() error) error {
	runtime.LockOSThread()
	orig, err := vnetns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("enter network namespace: get current: %w", err)
	}
	defer orig.Close()
	if err := vnetns.Set(target); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("enter network namespace %s: %w", target, err)
	}
	restored := false
	defer func() {
		if restored {
			runtime.UnlockOSThread()
		}
	}()
	ferr := fn()
	if err := vnetns.Set(orig); err != nil {
		return errors.Join(ferr, fmt.Errorf("restore network namespace %s: %w", orig, err))
	}
	restored = true
	return ferr
}

// DoPath is Do for a namespace file given by path (a /proc/PID/ns/net link, for example).
func DoPath(path string, fn func() error) error {
	target, err := vnetns.GetFromPath(path)
	if err != nil {
		return fmt.Errorf("open network namespace %s: %w", path, err)
	}
	defer target.Close()
	return DoHandle(target, fn)
}
