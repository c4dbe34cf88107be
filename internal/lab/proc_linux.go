package lab

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/trellisnet/trellis/internal/netns"
)

// proc is a process the lab started; done closes when it exits (it is reaped).
type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// startProcess starts argv in a session of its own inside namespace ns (the caller's when
// empty), appending stdout and stderr to logPath.
func startProcess(ns string, argv, env []string, logPath string) (*proc, error) {
	return startProcessAttr(ns, argv, env, logPath, &syscall.SysProcAttr{Setsid: true})
}

// startProcessAttr is startProcess with the given process attributes (a new mount
// namespace, for example).
func startProcessAttr(ns string, argv, env []string, logPath string, attr *syscall.SysProcAttr) (*proc, error) {
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return nil, fmt.Errorf("start %s: %w", argv[0], err)
	}
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("start %s: open log: %w", argv[0], err)
	}
	defer logf.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = attr
	start := cmd.Start
	if ns != "" {
		start = func() error { return netns.Do(ns, cmd.Start) }
	}
	if err := start(); err != nil {
		return nil, fmt.Errorf("start %s in %s: %w", strings.Join(argv, " "), nsLabel(ns), err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

func nsLabel(ns string) string {
	if ns == "" {
		return "the root namespace"
	}
	return "namespace " + ns
}

// cmdline returns the arguments of a process, nil when it is gone.
func cmdline(pid int) []string {
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
	if err != nil || len(data) == 0 {
		return nil
	}
	return strings.Split(string(bytes.TrimRight(data, "\x00")), "\x00")
}

// isLabProcess reports whether pid is one of the lab's root or agent processes: every one
// is started with the lab's datastore endpoint as an argument.
func isLabProcess(name string, pid int) bool {
	return slices.Contains(cmdline(pid), Endpoint(name))
}

func alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	// A zombie has exited already.
	if i := bytes.LastIndexByte(data, ')'); i > 0 && i+2 < len(data) && data[i+2] == 'Z' {
		return false
	}
	return true
}

// labNamespaces lists the namespaces named trl-NAME-*.
func labNamespaces(name string) []string {
	entries, err := os.ReadDir(netns.Dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		if isLabNS(name, e.Name()) {
			out = append(out, e.Name())
		}
	}
	return out
}

// nsInodes maps the inode of each lab namespace to its name.
func nsInodes(names []string) map[uint64]string {
	out := map[uint64]string{}
	for _, n := range names {
		var st syscall.Stat_t
		if err := syscall.Stat(netns.Path(n), &st); err == nil {
			out[st.Ino] = n
		}
	}
	return out
}

// labPIDs finds the lab's processes: those started with its datastore endpoint and those
// living in one of its namespaces. The caller is never included.
func labPIDs(name string, extra []int) []int {
	inodes := nsInodes(labNamespaces(name))
	seen := map[int]bool{}
	var out []int
	add := func(pid int) {
		if pid > 0 && pid != os.Getpid() && !seen[pid] && alive(pid) {
			seen[pid] = true
			out = append(out, pid)
		}
	}
	for _, pid := range extra {
		if isLabProcess(name, pid) {
			add(pid)
		}
	}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if isLabProcess(name, pid) {
			add(pid)
			continue
		}
		link, err := os.Readlink(filepath.Join("/proc", e.Name(), "ns", "net"))
		if err != nil {
			continue
		}
		// net:[4026532301]
		ino, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(link, "net:["), "]"), 10, 64)
		if err == nil && inodes[ino] != "" {
			add(pid)
		}
	}
	slices.Sort(out)
	return out
}

// killPIDs sends SIGTERM, waits up to grace, then SIGKILL to what is left.
func killPIDs(pids []int, grace time.Duration) {
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGTERM)
	}
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) {
		left := 0
		for _, pid := range pids {
			if alive(pid) {
				left++
			}
		}
		if left == 0 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, pid := range pids {
		if alive(pid) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}
