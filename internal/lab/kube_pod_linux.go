package lab

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/store"
)

// In a Kubernetes-mode lab the pods' network namespaces belong to containerd, inside the
// nodes' private mount namespaces; the lab reaches one through a process of the pod, found
// in the pod's cgroup (the kubelet names it pod<UID> under the node's cgroupRoot).

// podNetnsCache maps "lab ns/pod uid" to a /proc/PID/ns/net path that was valid.
var podNetnsCache sync.Map

// kubePodNetns returns a path to the pod's network namespace.
func kubePodNetns(lab, ns, pod string) (string, error) {
	s, err := OpenStore(lab)
	if err != nil {
		return "", err
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	obj, err := s.Get(ctx, model.KindPod, ns, pod)
	if errors.Is(err, store.ErrNotFound) {
		return "", fmt.Errorf("pod %s/%s does not exist in lab %s", ns, pod, lab)
	}
	if err != nil {
		return "", err
	}
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return "", fmt.Errorf("pod %s/%s: unexpected %T", ns, pod, obj)
	}
	key := lab + " " + ns + "/" + pod + " " + string(p.UID)
	if v, ok := podNetnsCache.Load(key); ok {
		if _, err := os.Stat(v.(string)); err == nil {
			return v.(string), nil
		}
	}
	pid := podPID(lab, string(p.UID))
	if pid == 0 {
		return "", fmt.Errorf("pod %s/%s is not running in lab %s (no process in its cgroup)", ns, pod, lab)
	}
	path := filepath.Join("/proc", strconv.Itoa(pid), "ns", "net")
	podNetnsCache.Store(key, path)
	return path, nil
}

// podPID returns a process of the pod with the given UID (0 when none): its sandbox's,
// from the pids hierarchy of the lab's cgroups.
func podPID(lab, uid string) int {
	root := filepath.Join(cgroupFS, "pids", cgroupLabRoot(lab))
	want := "pod" + uid
	pid := 0
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() || pid != 0 {
			return nil
		}
		if d.Name() != want && !strings.HasPrefix(filepath.Base(filepath.Dir(p)), "pod"+uid) {
			return nil
		}
		data, _ := os.ReadFile(filepath.Join(p, "cgroup.procs"))
		for _, f := range strings.Fields(string(data)) {
			if n, err := strconv.Atoi(f); err == nil && alive(n) {
				pid = n
				return filepath.SkipAll
			}
		}
		return nil
	})
	return pid
}
