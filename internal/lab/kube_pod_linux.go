package lab

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/trellisnet/trellis/internal/store"
)

// In a Kubernetes-mode lab the pods' network namespaces belong to containerd, inside the
// nodes' private mount namespaces; the lab reaches one through a process of the pod, found
// in the pod's cgroup (the kubelet names it pod<UID> under the node's cgroupRoot).

var (
	// podNetnsMu serialises refreshes of podNetnsCache, which maps "lab ns/pod" to a
	// /proc/PID/ns/net path that was valid.
	podNetnsMu    sync.Mutex
	podNetnsCache sync.Map
)

// kubePodNetns returns a path to the pod's network namespace. A path found before is used
// again while its process lives (a matrix probes each pod hundreds of times); a miss
// lists every pod once and walks the cgroups once, for all the probes waiting on it.
func kubePodNetns(lab, ns, pod string) (string, error) {
	key := lab + " " + ns + "/" + pod
	cached := func() (string, bool) {
		v, ok := podNetnsCache.Load(key)
		if !ok {
			return "", false
		}
		_, err := os.Stat(v.(string))
		return v.(string), err == nil
	}
	if p, ok := cached(); ok {
		return p, nil
	}
	podNetnsMu.Lock()
	defer podNetnsMu.Unlock()
	if p, ok := cached(); ok {
		return p, nil
	}
	if err := refreshPodNetns(lab); err != nil {
		return "", err
	}
	if p, ok := cached(); ok {
		return p, nil
	}
	return "", fmt.Errorf("pod %s/%s is not running in lab %s (no process in a cgroup of its)", ns, pod, lab)
}

// refreshPodNetns records the namespace path of every pod of the lab that has a process.
func refreshPodNetns(lab string) error {
	s, err := OpenStore(lab)
	if err != nil {
		return err
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := s.List(ctx, podKind(), store.ListOptions{})
	if err != nil {
		return fmt.Errorf("list pods: %w", err)
	}
	pids := podPIDs(lab)
	for _, o := range res.Items {
		if p, ok := o.(*corev1.Pod); ok && pids[string(p.UID)] != 0 {
			podNetnsCache.Store(lab+" "+p.Namespace+"/"+p.Name, filepath.Join("/proc", strconv.Itoa(pids[string(p.UID)]), "ns", "net"))
		}
	}
	return nil
}

// podPIDs maps each pod UID in the lab's cgroups (pids hierarchy) to one live process of
// the pod.
func podPIDs(lab string) map[string]int {
	out := map[string]int{}
	root := filepath.Join(cgroupFS, "pids", cgroupLabRoot(lab))
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		uid, ok := strings.CutPrefix(filepath.Base(filepath.Dir(p)), "pod")
		if !ok || out[uid] != 0 {
			return nil
		}
		data, _ := os.ReadFile(filepath.Join(p, "cgroup.procs"))
		for _, f := range strings.Fields(string(data)) {
			if n, err := strconv.Atoi(f); err == nil && alive(n) {
				out[uid] = n
				break
			}
		}
		return nil
	})
	return out
}
