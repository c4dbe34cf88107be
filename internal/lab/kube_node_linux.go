package lab

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// A Kubernetes-mode node is containerd and a kubelet inside the node's network namespace
// and a private mount namespace of its own (kubelet and containerd share it), started by
// `trellis lab node-runtime`. The mount namespace shows per-node directories at the paths
// the kubelet, containerd and the CNI plugin hard-code, and files with the kernel settings
// the kubelet wants over their /proc/sys entries, so that nothing of the machine changes.

// nodeMounts maps a fixed path inside a node's mount namespace to its directory under
// nodeDir. The DaemonSet's hostPath volumes (/opt/cni/bin, /etc/cni/net.d, /run/trellis)
// land in these too; /run/trellis/node holds the agents' sockets (not /run/trellis,
// under which the lab keeps its own state).
var nodeMounts = []struct{ target, dir string }{
	{"/var/lib/kubelet", "kubelet"},
	{"/var/log/containers", "log-containers"},
	{"/var/log/pods", "log-pods"},
	{"/var/lib/cni", "cni-cache"},
	{"/run/containerd", "run-containerd"},
	{"/run/netns", "netns"},
	{"/etc/cni/net.d", "cni-conf"},
	{"/opt/cni/bin", "cni-bin"},
	{"/run/trellis/node", "run-trellis-node"},
}

// kubeletSysctls are the kernel settings the kubelet checks at start and writes when they
// differ; each node shows it a read-only file with the wanted value instead.
var kubeletSysctls = map[string]string{
	"vm/overcommit_memory":      "1",
	"kernel/panic":              "10",
	"kernel/panic_on_oops":      "1",
	"kernel/keys/root_maxkeys":  "1000000",
	"kernel/keys/root_maxbytes": "25000000",
}

// mountpointsPath records the mountpoint directories lab up created on the machine (the
// fixed paths above did not exist), removed again when the last Kubernetes lab goes.
func mountpointsPath() string { return filepath.Join(RootDir, "kube-mountpoints") }

// ensureMountpoints creates the fixed paths that do not exist yet and records the
// top-most directory it created for each.
func ensureMountpoints() error {
	created := readMountpoints()
	for _, m := range nodeMounts {
		top := firstMissing(m.target)
		if top == "" {
			continue
		}
		if err := os.MkdirAll(m.target, 0o755); err != nil {
			return fmt.Errorf("create mountpoint %s: %w", m.target, err)
		}
		created = append(created, top)
	}
	return os.WriteFile(mountpointsPath(), []byte(strings.Join(created, "\n")+"\n"), 0o644)
}

// firstMissing is the top-most directory of path that does not exist ("" when it does).
func firstMissing(path string) string {
	if _, err := os.Stat(path); err == nil {
		return ""
	}
	for {
		parent := filepath.Dir(path)
		if _, err := os.Stat(parent); err == nil || parent == path {
			return path
		}
		path = parent
	}
}

func readMountpoints() []string {
	data, err := os.ReadFile(mountpointsPath())
	if err != nil {
		return nil
	}
	var out []string
	for _, l := range strings.Split(string(data), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// removeMountpoints removes the recorded mountpoints, deepest first, only while empty.
func removeMountpoints() error {
	var errs []error
	mps := readMountpoints()
	for i := len(mps) - 1; i >= 0; i-- {
		if err := removeEmptyTree(mps[i]); err != nil {
			errs = append(errs, err)
		}
	}
	if err := os.Remove(mountpointsPath()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// removeEmptyTree removes dir and its subdirectories when they hold no files.
func removeEmptyTree(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !e.IsDir() {
			return fmt.Errorf("mountpoint %s is not empty: left in place", dir)
		}
		if err := removeEmptyTree(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return os.Remove(dir)
}

// NodeRuntime is `trellis lab node-runtime`: started inside the node's network namespace
// with a mount namespace of its own, it mounts the node's directories, runs containerd,
// waits for its socket, runs the kubelet, and stops both (kubelet first) on SIGTERM. It
// returns when either exits.
func NodeRuntime(name, node, containerdBin, kubeletBin string) error {
	dir := nodeDir(name, node)
	if err := nodeNamespaceMounts(dir); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	ctrd := exec.Command(containerdBin, "--config", filepath.Join(dir, "containerd.toml"))
	ctrd.Stdout, ctrd.Stderr = os.Stdout, os.Stderr
	if err := ctrd.Start(); err != nil {
		return fmt.Errorf("node %s: start containerd: %w", node, err)
	}
	ctrdDone := reap(ctrd)
	defer stopChild(ctrd, ctrdDone, 10*time.Second)
	if err := waitSocket(ctx, containerdSocket(name, node), ctrdDone, 30*time.Second); err != nil {
		return fmt.Errorf("node %s: containerd: %w", node, err)
	}
	kl := exec.Command(kubeletBin, kubeletArgs(name, node)...)
	kl.Stdout, kl.Stderr = os.Stdout, os.Stderr
	if err := kl.Start(); err != nil {
		return fmt.Errorf("node %s: start kubelet: %w", node, err)
	}
	klDone := reap(kl)
	defer stopChild(kl, klDone, 10*time.Second)
	select {
	case <-ctx.Done():
		return nil
	case <-klDone:
		return fmt.Errorf("node %s: the kubelet exited", node)
	case <-ctrdDone:
		return fmt.Errorf("node %s: containerd exited", node)
	}
}

// nodeNamespaceMounts makes the mount namespace's view: per-node directories over the
// fixed paths, read-only sysctl files over /proc/sys entries. The namespace is private
// (the process was started with its own), so none of this reaches the machine's.
func nodeNamespaceMounts(dir string) error {
	for _, m := range nodeMounts {
		src := filepath.Join(dir, m.dir)
		if err := os.MkdirAll(src, 0o755); err != nil {
			return err
		}
		if err := unix.Mount(src, m.target, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind %s over %s: %w", src, m.target, err)
		}
	}
	sysctls := filepath.Join(dir, "sysctl")
	if err := os.MkdirAll(sysctls, 0o755); err != nil {
		return err
	}
	for key, v := range kubeletSysctls {
		src := filepath.Join(sysctls, strings.ReplaceAll(key, "/", "."))
		if err := os.WriteFile(src, []byte(v+"\n"), 0o444); err != nil {
			return err
		}
		target := filepath.Join("/proc/sys", key)
		if err := unix.Mount(src, target, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind %s over %s: %w", src, target, err)
		}
		if err := unix.Mount("", target, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
			return fmt.Errorf("make %s read-only: %w", target, err)
		}
	}
	return nil
}

func reap(c *exec.Cmd) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		_ = c.Wait()
		close(done)
	}()
	return done
}

// stopChild sends SIGTERM and, after grace, SIGKILL.
func stopChild(c *exec.Cmd, done <-chan struct{}, grace time.Duration) {
	_ = c.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(grace):
		_ = c.Process.Kill()
		<-done
	}
}

func waitSocket(ctx context.Context, path string, exited <-chan struct{}, timeout time.Duration) error {
	deadline := time.After(timeout)
	for {
		if st, err := os.Stat(path); err == nil && st.Mode()&fs.ModeSocket != 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-exited:
			return errors.New("exited before its socket " + path + " appeared")
		case <-deadline:
			return fmt.Errorf("no socket at %s after %s", path, timeout)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// kubeletArgs are a node's kubelet flags (the rest is in its configuration file).
func kubeletArgs(name, node string) []string {
	dir := nodeDir(name, node)
	st, _ := LoadState(name)
	ip := ""
	if st != nil {
		if n, ok := st.Node(node); ok {
			ip = strings.SplitN(n.Address, "/", 2)[0]
		}
	}
	return []string{
		"--config=" + filepath.Join(dir, "kubelet.yaml"),
		"--kubeconfig=" + filepath.Join(dir, "kubelet.kubeconfig"),
		"--hostname-override=" + node, "--node-ip=" + ip,
		"--root-dir=/var/lib/kubelet", "--cert-dir=" + filepath.Join(dir, "kubelet-pki"),
		"--v=1",
	}
}
