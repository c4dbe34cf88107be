package lab

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/containernetworking/cni/libcni"
	current "github.com/containernetworking/cni/pkg/types/100"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/trellisnet/trellis/internal/netns"
)

// podRuntime is one realised pod.
type podRuntime struct {
	c           *Controller
	namespace   string
	pod         string
	uid         types.UID
	node        NodeState
	netns       string
	containerID string
	ips         []string
	// adopted: found in a record of a previous controller, not started by this one.
	adopted bool

	mu         sync.Mutex
	stopped    bool
	containers []*container
	probeReady map[string]bool // container -> readiness, for containers with a readinessProbe
}

type container struct {
	restarts int32
	started  time.Time
	name     string
	argv     []string
	env      []string
	log      string
	proc     *proc
}

// containerStatuses reports every container as running, with its restart count.
func (rt *podRuntime) containerStatuses() []corev1.ContainerStatus {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	var out []corev1.ContainerStatus
	for _, k := range rt.containers {
		started := true
		out = append(out, corev1.ContainerStatus{Name: k.name, Ready: rt.containerReadyLocked(k.name), Started: &started, RestartCount: k.restarts,
			Image: k.argv[0], State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(k.started)}}})
	}
	return out
}

func (rt *podRuntime) key() string { return rt.namespace + "/" + rt.pod }

func (rt *podRuntime) runtimeConf() *libcni.RuntimeConf {
	return &libcni.RuntimeConf{
		ContainerID: rt.containerID,
		NetNS:       netns.Path(rt.netns),
		IfName:      "eth0",
		Args: [][2]string{
			{"IgnoreUnknown", "1"},
			{"K8S_POD_NAMESPACE", rt.namespace},
			{"K8S_POD_NAME", rt.pod},
			{"K8S_POD_INFRA_CONTAINER_ID", rt.containerID},
			{"K8S_POD_UID", string(rt.uid)},
		},
	}
}

func (rt *podRuntime) cni() (*libcni.CNIConfig, *libcni.NetworkConfigList, error) {
	name := rt.c.name
	list, err := libcni.ConfListFromFile(conflistPath(name, rt.node.Name))
	if err != nil {
		return nil, nil, fmt.Errorf("load conflist of node %s: %w", rt.node.Name, err)
	}
	return libcni.NewCNIConfigWithCacheDir([]string{cniBinDir(name)}, cniCacheDir(name), nil), list, nil
}

// setupNetwork creates the pod namespace (killing what a previous controller left in it)
// and runs CNI ADD from the node's namespace, as a container runtime on that node would.
func (rt *podRuntime) setupNetwork(ctx context.Context) ([]string, error) {
	if netns.Exists(rt.netns) {
		killPIDs(nsPIDs(rt.netns), 2*time.Second)
	} else if err := netns.Create(rt.netns); err != nil {
		return nil, err
	}
	if err := netns.Do(rt.netns, func() error { return linkUp("lo") }); err != nil {
		return nil, fmt.Errorf("set up loopback in %s: %w", rt.netns, err)
	}
	cn, list, err := rt.cni()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	var res *current.Result
	err = netns.Do(rt.node.Namespace, func() error {
		r, err := cn.AddNetworkList(ctx, list, rt.runtimeConf())
		if err != nil {
			return err
		}
		res, err = current.NewResultFromResult(r)
		return err
	})
	if err != nil {
		_ = netns.Delete(rt.netns)
		return nil, fmt.Errorf("CNI ADD on node %s: %w", rt.node.Name, err)
	}
	var ips []string
	for _, ip := range res.IPs {
		ips = append(ips, ip.Address.IP.String())
	}
	if len(ips) == 0 {
		return nil, fmt.Errorf("CNI ADD on node %s: no address in the result", rt.node.Name)
	}
	return ips, nil
}

// teardownNetwork runs CNI DEL from the node's namespace.
func (rt *podRuntime) teardownNetwork(ctx context.Context) error {
	cn, list, err := rt.cni()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err = netns.Do(rt.node.Namespace, func() error { return cn.DelNetworkList(ctx, list, rt.runtimeConf()) })
	if err != nil {
		return fmt.Errorf("CNI DEL of pod %s on node %s: %w", rt.key(), rt.node.Name, err)
	}
	return nil
}

// resolveCommand maps "trellis" to the lab's binary and other names through PATH.
func (c *Controller) resolveCommand(argv0 string) (string, error) {
	if argv0 == "trellis" {
		return c.binary, nil
	}
	p, err := exec.LookPath(argv0)
	if err != nil {
		return "", fmt.Errorf("find command %q: %w", argv0, err)
	}
	return p, nil
}

func (rt *podRuntime) startContainers(pod *corev1.Pod) error {
	for _, ct := range pod.Spec.Containers {
		argv := append(append([]string{}, ct.Command...), ct.Args...)
		if len(argv) == 0 {
			return fmt.Errorf("container %s: no command: the lab runs host binaries, give command (and args)", ct.Name)
		}
		bin, err := rt.c.resolveCommand(argv[0])
		if err != nil {
			return fmt.Errorf("container %s: %w", ct.Name, err)
		}
		argv[0] = bin
		argv = rt.c.withResolvConf(rt, argv)
		env := []string{"HOSTNAME=" + rt.pod, "POD_NAME=" + rt.pod, "POD_NAMESPACE=" + rt.namespace,
			"POD_IP=" + rt.ips[0], "NODE_NAME=" + rt.node.Name}
		for _, e := range ct.Env {
			if e.ValueFrom == nil {
				env = append(env, e.Name+"="+e.Value)
			}
		}
		k := &container{name: ct.Name, argv: argv, env: env, log: podLogPath(rt.c.name, rt.namespace, rt.pod, ct.Name)}
		if err := rt.start(k); err != nil {
			return err
		}
		rt.mu.Lock()
		rt.containers = append(rt.containers, k)
		rt.mu.Unlock()
	}
	return nil
}

func (rt *podRuntime) start(k *container) error {
	p, err := startProcess(rt.netns, k.argv, k.env, k.log)
	if err != nil {
		return fmt.Errorf("container %s: %w", k.name, err)
	}
	k.proc, k.started = p, time.Now()
	go rt.supervise(k, p)
	return nil
}

// supervise restarts a container that exits, with a backoff from 1s doubling to 30s
// (reset after 10s of running).
func (rt *podRuntime) supervise(k *container, p *proc) {
	backoff := time.Second
	for {
		started := time.Now()
		<-p.done
		rt.mu.Lock()
		stopped := rt.stopped
		rt.mu.Unlock()
		if stopped {
			return
		}
		if time.Since(started) > 10*time.Second {
			backoff = time.Second
		}
		rt.c.log.Warn("container exited: restarting", "pod", rt.key(), "container", k.name,
			"exit", p.cmd.ProcessState.String(), "backoff", backoff)
		time.Sleep(backoff)
		backoff = min(2*backoff, 30*time.Second)
		rt.mu.Lock()
		if rt.stopped {
			rt.mu.Unlock()
			return
		}
		np, err := startProcess(rt.netns, k.argv, k.env, k.log)
		if err == nil {
			k.proc, p = np, np
			k.restarts++
			k.started = time.Now()
		}
		rt.mu.Unlock()
		if err != nil {
			rt.c.log.Error("restart container", "pod", rt.key(), "container", k.name, "err", err)
			return
		}
		if err := rt.c.writeStatus(rt.c.ctx, rt); err != nil {
			rt.c.log.Warn("record container restart", "pod", rt.key(), "err", err)
		}
	}
}

// stopContainers stops every container and anything else left in the pod namespace.
func (rt *podRuntime) stopContainers() {
	rt.mu.Lock()
	rt.stopped = true
	var pids []int
	for _, k := range rt.containers {
		if k.proc != nil && !k.proc.exited() {
			pids = append(pids, k.proc.pid())
		}
	}
	rt.mu.Unlock()
	for _, pid := range nsPIDs(rt.netns) {
		if !containsInt(pids, pid) {
			pids = append(pids, pid)
		}
	}
	killPIDs(pids, 2*time.Second)
}

func containsInt(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// nsPIDs lists the processes living in one namespace (never the caller).
func nsPIDs(ns string) []int {
	var st syscall.Stat_t
	if err := syscall.Stat(netns.Path(ns), &st); err != nil {
		return nil
	}
	want := fmt.Sprintf("net:[%d]", st.Ino)
	var out []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		var pid int
		if _, err := fmt.Sscanf(e.Name(), "%d", &pid); err != nil || pid == os.Getpid() {
			continue
		}
		if link, err := os.Readlink("/proc/" + e.Name() + "/ns/net"); err == nil && link == want && alive(pid) {
			out = append(out, pid)
		}
	}
	return out
}
