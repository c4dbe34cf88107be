package lab

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// cgroupFS is where the cgroup v1 hierarchies are mounted.
const cgroupFS = "/sys/fs/cgroup"

// cgroupHierarchies lists the mounted v1 hierarchies (cpu, memory, ..., systemd); the
// unified (v2) mount is skipped: this machine's controllers are all on v1.
func cgroupHierarchies() ([]string, error) {
	entries, err := os.ReadDir(cgroupFS)
	if err != nil {
		return nil, fmt.Errorf("list cgroup hierarchies: %w", err)
	}
	var out []string
	for _, e := range entries {
		if !e.IsDir() || e.Name() == "unified" {
			continue
		}
		if _, err := os.Stat(filepath.Join(cgroupFS, e.Name(), "cgroup.procs")); err == nil {
			out = append(out, filepath.Join(cgroupFS, e.Name()))
		}
	}
	return out, nil
}

// createNodeCgroups makes the node's cgroupRoot in every hierarchy before its kubelet
// starts (the kubelet wants it to exist in all of them); cpuset children get their
// parent's cpus and mems, which a new cpuset does not inherit.
func createNodeCgroups(name, node string) error {
	hs, err := cgroupHierarchies()
	if err != nil {
		return err
	}
	for _, h := range hs {
		for _, rel := range []string{cgroupLabRoot(name), cgroupRoot(name, node)} {
			dir := filepath.Join(h, rel)
			if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("create cgroup %s: %w", dir, err)
			}
			if filepath.Base(h) != "cpuset" {
				continue
			}
			for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
				v, err := os.ReadFile(filepath.Join(filepath.Dir(dir), f))
				if err != nil {
					return fmt.Errorf("read %s: %w", f, err)
				}
				if err := os.WriteFile(filepath.Join(dir, f), v, 0o644); err != nil {
					return fmt.Errorf("set %s of %s: %w", f, dir, err)
				}
			}
		}
	}
	return nil
}

// cgroupPIDs lists the processes in the lab's cgroups (every hierarchy, every depth).
func cgroupPIDs(name string) []int { return treePIDs(strings.TrimPrefix(cgroupLabRoot(name), "/")) }

// treePIDs lists the processes in the cgroup rel (relative to each hierarchy's root) and
// below it, in every hierarchy.
func treePIDs(rel string) []int {
	hs, _ := cgroupHierarchies()
	seen := map[int]bool{}
	var out []int
	for _, h := range hs {
		_ = filepath.WalkDir(filepath.Join(h, rel), func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.IsDir() {
				return nil
			}
			data, _ := os.ReadFile(filepath.Join(p, "cgroup.procs"))
			for _, f := range strings.Fields(string(data)) {
				if pid, err := strconv.Atoi(f); err == nil && !seen[pid] {
					seen[pid] = true
					out = append(out, pid)
				}
			}
			return nil
		})
	}
	return out
}

// removeCgroups kills what is left in the lab's cgroups and removes them, deepest first.
func removeCgroups(name string) error {
	return removeCgroupTree(name, strings.TrimPrefix(cgroupLabRoot(name), "/"))
}

// removeCgroupTree kills the processes of the cgroup rel and below (every hierarchy) and
// removes the cgroups, deepest first. rel must lie inside the lab's own cgroups.
func removeCgroupTree(name, rel string) error {
	if lab := strings.TrimPrefix(cgroupLabRoot(name), "/"); rel != lab && !strings.HasPrefix(rel, lab+"/") {
		return fmt.Errorf("cgroup %s is not lab %s's", rel, name)
	}
	for round := 0; round < 3; round++ {
		pids := treePIDs(rel)
		if len(pids) == 0 {
			break
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(200 * time.Millisecond)
	}
	hs, _ := cgroupHierarchies()
	// On a hybrid host runc and the kubelet mirror the lab's cgroups in the cgroup v2
	// "unified" hierarchy too, which the lab itself never creates in: remove them as well.
	if u := filepath.Join(cgroupFS, "unified"); isDir(u) {
		hs = append(hs, u)
	}
	var errs []error
	for _, h := range hs {
		var dirs []string
		_ = filepath.WalkDir(filepath.Join(h, rel), func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- {
			if err := rmdirRetry(dirs[i]); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// rmdirRetry removes a cgroup; one whose last task just died may be busy for a moment.
func rmdirRetry(dir string) error {
	var err error
	for i := 0; i < 20; i++ {
		if err = syscall.Rmdir(dir); err == nil || errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("remove cgroup %s: %w", dir, err)
}
