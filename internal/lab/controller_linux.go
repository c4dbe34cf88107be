package lab

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/trellisnet/trellis/internal/store"
	"github.com/trellisnet/trellis/internal/store/reach"
)

// resyncPeriod is the interval of full reconciliations besides watch events.
const resyncPeriod = 3 * time.Second

// Controller realises the lab's Pods: it schedules them, creates their namespaces, calls
// the CNI plugin through libcni from the node's namespace, runs their containers and
// writes their status back.
type Controller struct {
	name   string
	binary string
	state  *State
	st     store.Store
	log    *slog.Logger
	ctx    context.Context // Run's, for the container supervisors

	mu   sync.Mutex
	pods map[string]*podRuntime // "ns/pod"
	// retry holds when a pod that failed to start may be tried again, and its backoff.
	retry map[types.UID]retryState
}

type retryState struct {
	next    time.Time
	backoff time.Duration
}

// NewController returns the controller of the named lab; it does no I/O.
func NewController(name, binary string, st store.Store, log *slog.Logger) *Controller {
	return &Controller{name: name, binary: binary, st: st, log: log, pods: map[string]*podRuntime{}, retry: map[types.UID]retryState{}}
}

// Run reconciles until ctx ends, then stops every container it started (their namespaces
// and addresses stay: a restarted controller takes them over).
func (c *Controller) Run(ctx context.Context) error {
	st, err := LoadState(c.name)
	if err != nil {
		return err
	}
	c.state, c.ctx = st, ctx
	c.adoptRecords()
	trigger := make(chan struct{}, 1)
	// An unreachable datastore is logged; when it answers again the pod watch is
	// re-opened and pods reconciled from a fresh list.
	mon := reach.New(reach.Config{Endpoint: Endpoint(c.name)}, c.st, c.log.With("component", "datastore"))
	go mon.Run(ctx)
	go c.watch(ctx, trigger, mon.Back)
	go c.runClusterControllers(ctx)
	tick := time.NewTicker(resyncPeriod)
	defer tick.Stop()
	c.log.Info("lab controller started", "lab", c.name, "nodes", len(st.Nodes))
	for {
		if err := c.reconcile(ctx); err != nil && ctx.Err() == nil {
			c.log.Error("reconcile pods", "err", err)
		}
		select {
		case <-ctx.Done():
			c.stopAll()
			return nil
		case <-trigger:
		case <-tick.C:
		}
	}
}

// watch pokes trigger on every Pod event; it re-opens the watch when it ends or when the
// datastore answers again after being unreachable (back).
func (c *Controller) watch(ctx context.Context, trigger chan<- struct{}, back func() <-chan struct{}) {
	poke := func() {
		select {
		case trigger <- struct{}{}:
		default:
		}
	}
	for ctx.Err() == nil {
		w, err := c.st.Watch(ctx, podKind(), store.WatchOptions{})
		if err != nil {
			c.log.Warn("watch pods", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
			continue
		}
		reach.Drain(w, back(), poke)
		poke()
	}
}

func (c *Controller) reconcile(ctx context.Context) error {
	if st, err := LoadState(c.name); err == nil && len(st.Nodes) > 0 {
		c.state = st // nodes come and go (lab node add/remove)
	}
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	res, err := c.st.List(lctx, podKind(), store.ListOptions{})
	cancel()
	if err != nil {
		return fmt.Errorf("list pods: %w", err)
	}
	want := map[string]*corev1.Pod{}
	for _, o := range res.Items {
		p, ok := o.(*corev1.Pod)
		if !ok || p.Spec.HostNetwork {
			continue
		}
		want[p.Namespace+"/"+p.Name] = p
	}
	c.mu.Lock()
	var gone []*podRuntime
	for key, rt := range c.pods {
		if p, ok := want[key]; !ok || p.UID != rt.uid {
			gone = append(gone, rt)
			delete(c.pods, key)
		}
	}
	for key, rt := range c.pods {
		if rt.adopted {
			delete(c.pods, key) // still wanted: realise it again below
		}
	}
	c.mu.Unlock()
	for _, rt := range gone {
		c.log.Info("pod deleted: tearing down", "pod", rt.key())
		if err := c.teardown(ctx, rt); err != nil {
			c.log.Error("tear down pod", "pod", rt.key(), "err", err)
		}
	}
	uids := map[types.UID]bool{}
	for _, p := range want {
		uids[p.UID] = true
	}
	for uid := range c.retry {
		if !uids[uid] {
			delete(c.retry, uid)
		}
	}
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var errs []error
	for _, key := range keys {
		c.mu.Lock()
		_, have := c.pods[key]
		c.mu.Unlock()
		r, failed := c.retry[want[key].UID]
		if have || ctx.Err() != nil || (failed && time.Now().Before(r.next)) {
			continue
		}
		if err := c.realise(ctx, want[key], want); err != nil {
			r.backoff = min(max(2*r.backoff, time.Second), 30*time.Second)
			r.next = time.Now().Add(r.backoff)
			c.retry[want[key].UID] = r
			c.writeFailure(ctx, want[key], err)
			errs = append(errs, fmt.Errorf("%w (next attempt in %s)", err, r.backoff))
			continue
		}
		delete(c.retry, want[key].UID)
	}
	return errors.Join(errs...)
}

// schedule picks the pod's node: spec.nodeName when it names a lab node, else the node
// with the fewest pods (ties by name).
func (c *Controller) schedule(pod *corev1.Pod, all map[string]*corev1.Pod) (NodeState, error) {
	if pod.Spec.NodeName != "" {
		n, ok := c.state.Node(pod.Spec.NodeName)
		if !ok {
			return NodeState{}, fmt.Errorf("schedule pod %s/%s: node %q is not in lab %s", pod.Namespace, pod.Name, pod.Spec.NodeName, c.name)
		}
		return n, nil
	}
	count := map[string]int{}
	for _, p := range all {
		if p.Spec.NodeName != "" {
			count[p.Spec.NodeName]++
		}
	}
	best := c.state.Nodes[0]
	for _, n := range c.state.Nodes[1:] {
		if count[n.Name] < count[best.Name] {
			best = n
		}
	}
	return best, nil
}

// realise brings one pod up and records it; on failure everything done is undone and the
// next reconciliation tries again.
func (c *Controller) realise(ctx context.Context, pod *corev1.Pod, all map[string]*corev1.Pod) error {
	node, err := c.schedule(pod, all)
	if err != nil {
		return err
	}
	if err := c.checkCommands(pod); err != nil {
		return fmt.Errorf("pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	pod.Spec.NodeName = node.Name // counts for the pods scheduled after it in this pass
	rt := &podRuntime{c: c, namespace: pod.Namespace, pod: pod.Name, uid: pod.UID, node: node,
		netns: PodNS(c.name, pod.Namespace, pod.Name), containerID: containerID(pod)}
	c.log.Info("realising pod", "pod", rt.key(), "node", node.Name, "netns", rt.netns)
	ips, err := rt.setupNetwork(ctx)
	if err != nil {
		return fmt.Errorf("pod %s: %w", rt.key(), err)
	}
	rt.ips = ips
	if err := rt.startContainers(pod); err != nil {
		_ = c.teardown(ctx, rt)
		return fmt.Errorf("pod %s: %w", rt.key(), err)
	}
	rt.startProbes(pod)
	c.mu.Lock()
	c.pods[rt.key()] = rt
	c.mu.Unlock()
	if err := rt.saveRecord(); err != nil {
		c.log.Warn("save pod record", "pod", rt.key(), "err", err)
	}
	if err := c.writeStatus(ctx, rt); err != nil {
		return fmt.Errorf("pod %s: %w", rt.key(), err)
	}
	c.log.Info("pod running", "pod", rt.key(), "node", node.Name, "ips", ips)
	return nil
}

// checkCommands fails early, before any network set-up, for a container the lab cannot run.
func (c *Controller) checkCommands(pod *corev1.Pod) error {
	for _, ct := range pod.Spec.Containers {
		argv := append(append([]string{}, ct.Command...), ct.Args...)
		if len(argv) == 0 {
			return fmt.Errorf("container %s: no command: the lab runs host binaries, give command (and args)", ct.Name)
		}
		if _, err := c.resolveCommand(argv[0]); err != nil {
			return fmt.Errorf("container %s: %w", ct.Name, err)
		}
	}
	return nil
}

func containerID(pod *corev1.Pod) string {
	if pod.UID != "" {
		return "trl" + string(pod.UID)
	}
	return "trl" + PodNS("", pod.Namespace, pod.Name)
}

// writeStatus records node, addresses, phase and readiness with compare-and-swap retries.
func (c *Controller) writeStatus(ctx context.Context, rt *podRuntime) error {
	for attempt := 0; ; attempt++ {
		gctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		obj, err := c.st.Get(gctx, podKind(), rt.namespace, rt.pod)
		cancel()
		if err != nil {
			return fmt.Errorf("write status: get pod: %w", err)
		}
		pod, ok := obj.(*corev1.Pod)
		if !ok || pod.UID != rt.uid {
			return fmt.Errorf("write status: the pod was replaced")
		}
		now := metav1.Now()
		pod.Spec.NodeName = rt.node.Name
		pod.Status.Phase = corev1.PodRunning
		pod.Status.HostIP = hostAddr(rt.node)
		pod.Status.HostIPs = []corev1.HostIP{{IP: pod.Status.HostIP}}
		pod.Status.PodIPs = nil
		for _, ip := range rt.ips {
			pod.Status.PodIPs = append(pod.Status.PodIPs, corev1.PodIP{IP: ip})
		}
		if len(rt.ips) > 0 {
			pod.Status.PodIP = rt.ips[0]
		}
		if pod.Status.StartTime == nil {
			pod.Status.StartTime = &now
		}
		pod.Status.ContainerStatuses = rt.containerStatuses()
		pod.Status.Conditions = nil
		for _, t := range []corev1.PodConditionType{corev1.PodScheduled, corev1.PodInitialized, corev1.ContainersReady, corev1.PodReady} {
			pod.Status.Conditions = append(pod.Status.Conditions, corev1.PodCondition{Type: t, Status: rt.conditionStatus(t), LastTransitionTime: now})
		}
		uctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err = c.st.Update(uctx, pod)
		cancel()
		if err == nil {
			return nil
		}
		if !errors.Is(err, store.ErrConflict) || attempt >= 10 {
			return fmt.Errorf("write status: update pod: %w", err)
		}
	}
}

// writeFailure records, best effort, why a pod could not be started: phase Pending and a
// Ready condition False with the error.
func (c *Controller) writeFailure(ctx context.Context, pod *corev1.Pod, cause error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	obj, err := c.st.Get(ctx, podKind(), pod.Namespace, pod.Name)
	if err != nil {
		return
	}
	p, ok := obj.(*corev1.Pod)
	if !ok || p.UID != pod.UID {
		return
	}
	msg := cause.Error()
	for _, cd := range p.Status.Conditions {
		if cd.Type == corev1.PodReady && cd.Message == msg {
			return // already recorded: do not trigger another event
		}
	}
	p.Status.Phase = corev1.PodPending
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse,
		Reason: "LabStartFailed", Message: msg, LastTransitionTime: metav1.Now()}}
	if _, err := c.st.Update(ctx, p); err != nil {
		c.log.Warn("record pod failure", "pod", pod.Namespace+"/"+pod.Name, "err", err)
	}
}

func hostAddr(n NodeState) string {
	addr, _, _ := strings.Cut(n.Address, "/")
	return addr
}

func (c *Controller) teardown(ctx context.Context, rt *podRuntime) error {
	rt.stopContainers()
	err := rt.teardownNetwork(ctx)
	if derr := netnsDelete(rt.netns); derr != nil {
		err = errors.Join(err, derr)
	}
	if err == nil {
		rt.removeRecord()
	}
	return err
}

func (c *Controller) stopAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, rt := range c.pods {
		rt.stopContainers()
	}
}
