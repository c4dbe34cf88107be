package kube_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/trellisnet/trellis/internal/kube/kubetest"
	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/policy"
	"github.com/trellisnet/trellis/internal/store"
	"github.com/trellisnet/trellis/internal/store/embed"
	"github.com/trellisnet/trellis/internal/store/etcd"
	"github.com/trellisnet/trellis/internal/store/kube"
)

// fanoutNodes is the number of nodes the simulated agents stand for; the pods spread over
// them, so every agent's calculation has endpoints.
const fanoutNodes = 10

// simAgent is one node agent as the datastore sees it: its own client, a watch of every
// kind the calculation reads, and the incremental calculation of its node.
type simAgent struct {
	node string
	calc *policy.Calculator
	// computed receives the names of the GlobalNetworkPolicies its state holds, after
	// each change.
	done map[string]time.Time
	mu   sync.Mutex
}

// policyKinds are the kinds the calculation reads.
func policyKinds() []*model.Kind {
	var out []*model.Kind
	for _, k := range model.Default.Kinds() {
		if policy.Reads(k) {
			out = append(out, k)
		}
	}
	return out
}

// run lists and watches every policy kind (one watch each, as an agent's informers would)
// and records when each benchmark policy first appears in its node's state.
func (a *simAgent) run(ctx context.Context, st store.Store, ready *sync.WaitGroup) error {
	var watches []store.Watch
	for _, k := range policyKinds() {
		res, err := st.List(ctx, k, store.ListOptions{})
		if err != nil {
			return err
		}
		for _, o := range res.Items {
			if r, err := policy.FromObject(o); err == nil && r != nil {
				a.calc.Update(r)
			}
		}
		w, err := st.Watch(ctx, k, store.WatchOptions{Revision: res.Revision})
		if err != nil {
			return err
		}
		watches = append(watches, w)
	}
	ready.Done()
	events := make(chan store.Event, 64)
	for _, w := range watches {
		go func() {
			for ev := range w.Events() {
				events <- ev
			}
		}()
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev := <-events:
			a.apply(ev)
		}
	}
}

func (a *simAgent) apply(ev store.Event) {
	r, err := policy.FromObject(ev.Object)
	if err != nil || r == nil {
		return
	}
	if ev.Type == store.EventDeleted {
		a.calc.Delete(r.Key())
		return
	}
	a.calc.Update(r)
	st := a.calc.State()
	now := time.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, p := range st.Policies {
		if _, seen := a.done[p.ID.Name]; !seen && strings.HasPrefix(p.ID.Name, "fanout-") {
			a.done[p.ID.Name] = now
		}
	}
}

func (a *simAgent) doneAt(name string) (time.Time, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	t, ok := a.done[name]
	return t, ok
}

// fanoutFixture writes namespaces and workload endpoints (with node and address) spread
// over the nodes: on a store that derives endpoints from Pods (the Kubernetes API), Pods
// as the CNI plugin leaves them (bound to the node, its address annotations).
func fanoutFixture(b *testing.B, st store.Store) {
	ctx := context.Background()
	for ns := range 5 {
		n := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("fan%d", ns)}}
		n.SetGroupVersionKind(model.KindNamespace.GVK())
		if _, err := st.Create(ctx, n); err != nil {
			b.Fatal(err)
		}
		for i := range 20 {
			node := fmt.Sprintf("node%d", (ns*20+i)%fanoutNodes)
			pod := fmt.Sprintf("p%d", i)
			w := &model.WorkloadEndpoint{TypeMeta: metav1.TypeMeta{APIVersion: model.APIVersionCalico, Kind: "WorkloadEndpoint"},
				ObjectMeta: metav1.ObjectMeta{Name: node + "-k8s-" + pod + "-eth0", Namespace: n.Name,
					Labels: map[string]string{"app": fmt.Sprintf("a%d", i%4)}},
				Spec: model.WorkloadEndpointSpec{Orchestrator: "k8s", Node: node, Pod: pod, Endpoint: "eth0",
					InterfaceName: fmt.Sprintf("trl%d", ns*20+i), IPNetworks: []string{fmt.Sprintf("10.244.%d.%d/32", ns, i+1)}}}
			var obj model.Object = w
			if store.DerivedEndpoints(st) {
				obj = fanoutPod(w)
			} else {
				model.SetDefaults(w)
			}
			if _, err := st.Create(ctx, obj); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// fanoutPod is the Pod whose endpoint is w, as the CNI plugin annotates it.
func fanoutPod(w *model.WorkloadEndpoint) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: w.Spec.Pod, Namespace: w.Namespace, Labels: w.Labels,
		Annotations: map[string]string{model.AnnotationPodIP: w.Spec.IPNetworks[0],
			model.AnnotationContainerID: "fanout-" + w.Spec.Pod, model.AnnotationInterfaceName: w.Spec.InterfaceName}},
		Spec: corev1.PodSpec{NodeName: w.Spec.Node, Containers: []corev1.Container{{Name: "c", Image: "localhost/trellis"}}}}
	p.SetGroupVersionKind(model.KindPod.GVK())
	return p
}

// benchFanout starts n agents, each with a store from open, then writes one
// GlobalNetworkPolicy per op and waits until every agent's state holds it. It reports the
// p50 and p99 over agents and ops of the time from the write to an agent having computed
// it, and, for a server process (pid > 0), its CPU seconds per op and resident memory.
func benchFanout(b *testing.B, n int, open func() store.Store, pid int) {
	writer := open()
	fanoutFixture(b, writer)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	agents := make([]*simAgent, n)
	var ready sync.WaitGroup
	ready.Add(n)
	for i := range agents {
		agents[i] = &simAgent{node: fmt.Sprintf("node%d", i%fanoutNodes), done: map[string]time.Time{}}
		agents[i].calc = policy.NewCalculator(policy.Options{Node: agents[i].node})
		st := open()
		go func() {
			if err := agents[i].run(ctx, st, &ready); err != nil && ctx.Err() == nil {
				b.Error(err)
			}
		}()
	}
	ready.Wait()
	cpu0 := cpuSeconds(pid)
	var lat []time.Duration
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		name := fmt.Sprintf("fanout-%d", i)
		gnp := &model.GlobalNetworkPolicy{TypeMeta: metav1.TypeMeta{APIVersion: model.APIVersionCalico, Kind: "GlobalNetworkPolicy"},
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: model.GlobalNetworkPolicySpec{Selector: "has(app)", Types: []model.PolicyType{"Ingress"},
				Ingress: []model.Rule{{Action: "Allow"}}}}
		t0 := time.Now()
		if _, err := writer.Create(ctx, gnp); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, waitAll(b, agents, name, t0)...)
	}
	b.StopTimer()
	slices.Sort(lat)
	if len(lat) > 0 {
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "ms-p50")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "ms-p99")
	}
	if pid > 0 {
		b.ReportMetric((cpuSeconds(pid)-cpu0)/float64(b.N), "server-cpu-s/op")
		b.ReportMetric(rssMB(pid), "server-MB")
	}
}

// waitAll waits (at most a minute) until every agent computed the policy and returns the
// latencies.
func waitAll(b *testing.B, agents []*simAgent, name string, t0 time.Time) []time.Duration {
	deadline := time.Now().Add(time.Minute)
	out := make([]time.Duration, 0, len(agents))
	for _, a := range agents {
		for {
			if t, ok := a.doneAt(name); ok {
				out = append(out, t.Sub(t0))
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("agent of %s never computed %s", a.node, name)
			}
			time.Sleep(time.Millisecond)
		}
	}
	return out
}

func cpuSeconds(pid int) float64 {
	if pid <= 0 {
		return 0
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100 // clock ticks (USER_HZ 100)
}

func rssMB(pid int) float64 {
	data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.Fields(v)[0], 64)
			return kb / 1024
		}
	}
	return 0
}

// fanoutSizes is TRELLIS_FANOUT_AGENTS (comma-separated), default 10,100.
func fanoutSizes() []int {
	out := []int{10, 100}
	if v := os.Getenv("TRELLIS_FANOUT_AGENTS"); v != "" {
		out = nil
		for _, s := range strings.Split(v, ",") {
			if n, err := strconv.Atoi(strings.TrimSpace(s)); err == nil && n > 0 {
				out = append(out, n)
			}
		}
	}
	return out
}

// BenchmarkFanout: N simulated agents (a watch of every policy kind each and the policy
// calculation of their node, in one process) against one kube-apiserver, and against
// Trellis's embedded etcd: per op, one policy written and awaited by every agent.
// bench/fanout/run.sh runs it.
func BenchmarkFanout(b *testing.B) {
	for _, n := range fanoutSizes() {
		b.Run(fmt.Sprintf("kube/agents=%d", n), func(b *testing.B) {
			c := kubetest.Start(b)
			c.InstallCRDs(b)
			benchFanout(b, n, func() store.Store {
				s, err := kube.New(store.Config{Kubeconfig: c.Kubeconfig})
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { s.Close() })
				return s
			}, c.PID)
		})
		b.Run(fmt.Sprintf("etcd/agents=%d", n), func(b *testing.B) {
			dir := b.TempDir()
			sock := "unix://" + filepath.Join(dir, "ds.sock")
			srv := embed.New(embed.Config{DataDir: filepath.Join(dir, "data"), ListenClientURLs: []string{sock}, UnsafeNoFsync: true})
			if err := srv.Start(context.Background()); err != nil {
				b.Fatal(err)
			}
			b.Cleanup(srv.Stop)
			benchFanout(b, n, func() store.Store {
				s, err := etcd.New(store.Config{Endpoints: []string{sock}})
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { s.Close() })
				return s
			}, 0)
		})
	}
}
