package controller

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/store"
)

// churn returns n random events over Services and Pods in two namespaces: creates,
// relabels, selector changes, readiness flips and deletes.
func churn(r *rand.Rand, n int) []store.Event {
	var evs []store.Event
	pods, svcs := map[string]*corev1.Pod{}, map[string]*corev1.Service{}
	app := func() map[string]string { return map[string]string{"app": fmt.Sprintf("a%d", r.IntN(4))} }
	for i := range n {
		ns := []string{"default", "shop"}[r.IntN(2)]
		switch r.IntN(3) {
		case 0:
			name := fmt.Sprintf("s%d", r.IntN(5))
			s := svc(name, 0, func(s *corev1.Service) { s.Spec.Selector = app() })
			s.Namespace = ns
			typ := store.EventAdded
			if _, ok := svcs[Key(ns, name)]; ok {
				typ = store.EventModified
				if r.IntN(3) == 0 {
					typ = store.EventDeleted
				}
			}
			svcs[Key(ns, name)] = s
			evs = append(evs, store.Event{Type: typ, Object: s})
		default:
			name := fmt.Sprintf("p%d", r.IntN(20))
			p := pod(name, fmt.Sprintf("10.244.%d.%d", r.IntN(2), i%250+1), r.IntN(2) == 0, app())
			p.Namespace = ns
			typ := store.EventAdded
			if _, ok := pods[Key(ns, name)]; ok {
				typ = store.EventModified
				if r.IntN(4) == 0 {
					typ = store.EventDeleted
				}
			}
			pods[Key(ns, name)] = p
			evs = append(evs, store.Event{Type: typ, Object: p})
		}
		if last := evs[len(evs)-1]; last.Type == store.EventDeleted {
			delete(pods, keyOf(last.Object))
			delete(svcs, keyOf(last.Object))
		}
	}
	return evs
}

// TestSliceCacheIncrementalEqualsFull applies random churn event by event, writes each
// incremental plan back (as the watch would), and checks that a plan of everything from
// scratch then has nothing to do.
func TestSliceCacheIncrementalEqualsFull(t *testing.T) {
	for seed := range uint64(20) {
		c := newSliceCache()
		for i, ev := range churn(rand.New(rand.NewPCG(seed, 1)), 200) {
			c.apply(model.KindService, ev)
			plan := c.plan(false)
			for _, s := range append(plan.Create, plan.Update...) {
				c.apply(model.KindEndpointSlice, store.Event{Type: store.EventModified, Object: s})
			}
			for _, s := range plan.Delete {
				c.apply(model.KindEndpointSlice, store.Event{Type: store.EventDeleted, Object: s})
			}
			svcs := slices.Collect(maps.Values(c.svcs))
			pods := slices.Collect(maps.Values(c.pods))
			stored := slices.Collect(maps.Values(c.slices))
			if p := PlanSlices(svcs, pods, stored); len(p.Create)+len(p.Update)+len(p.Delete) != 0 {
				t.Fatalf("seed %d event %d (%s %s): from scratch still %d creates, %d updates, %d deletes",
					seed, i, ev.Type, keyOf(ev.Object), len(p.Create), len(p.Update), len(p.Delete))
			}
		}
	}
}

func wep(ns, name, podName string) *model.WorkloadEndpoint {
	return &model.WorkloadEndpoint{TypeMeta: metav1.TypeMeta{APIVersion: model.APIVersionCalico, Kind: "WorkloadEndpoint"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       model.WorkloadEndpointSpec{Orchestrator: model.OrchestratorK8s, Pod: podName, Workload: podName, Node: "node1", Endpoint: "eth0"}}
}

// TestLabelCacheTouchesOnlyWhatChanged: a namespace's or service account's change plans
// that namespace's endpoints only, a pod's change its own endpoints only.
func TestLabelCacheTouchesOnlyWhatChanged(t *testing.T) {
	c := newLabelCache()
	var objs []model.Object
	for _, ns := range []string{"shop", "bank"} {
		objs = append(objs, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
			&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "default"}})
		for i := range 3 {
			p := pod(fmt.Sprintf("p%d", i), "10.244.0.1", true, nil)
			p.Namespace = ns
			objs = append(objs, p, wep(ns, fmt.Sprintf("node1-k8s-p%d-eth0", i), p.Name))
		}
	}
	for _, o := range objs {
		c.apply(nil, store.Event{Type: store.EventAdded, Object: o})
	}
	write := func(ws []*model.WorkloadEndpoint) {
		for _, w := range ws {
			c.apply(model.KindWorkloadEndpoint, store.Event{Type: store.EventModified, Object: w})
		}
		c.plan(false) // the writes' own events plan nothing
	}
	write(c.plan(false))
	planned := func(what string, o model.Object, want ...string) {
		t.Helper()
		c.apply(nil, store.Event{Type: store.EventModified, Object: o})
		c.mu.Lock()
		got := slices.Sorted(maps.Keys(c.dirty))
		c.mu.Unlock()
		if !slices.Equal(got, want) {
			t.Errorf("%s: planned %v, want %v", what, got, want)
		}
		write(c.plan(false))
		if p := c.plan(true); len(p) != 0 {
			t.Errorf("%s: a plan of every endpoint still has %d updates", what, len(p))
		}
	}
	planned("namespace relabelled", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "bank", Labels: map[string]string{"tier": "gold"}}},
		"bank/node1-k8s-p0-eth0", "bank/node1-k8s-p1-eth0", "bank/node1-k8s-p2-eth0")
	planned("service account relabelled", &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "default", Labels: map[string]string{"x": "y"}}},
		"shop/node1-k8s-p0-eth0", "shop/node1-k8s-p1-eth0", "shop/node1-k8s-p2-eth0")
	p := pod("p1", "10.244.0.1", true, map[string]string{"app": "web"})
	p.Namespace = "shop"
	planned("pod relabelled", p, "shop/node1-k8s-p1-eth0")
	if w := c.weps["shop/node1-k8s-p1-eth0"]; w.Labels["app"] != "web" || w.Labels["pcsa.x"] != "y" {
		t.Errorf("endpoint labels %v", w.Labels)
	}
	if w := c.weps["bank/node1-k8s-p1-eth0"]; w.Labels["pcns.tier"] != "gold" {
		t.Errorf("endpoint labels %v", w.Labels)
	}
}
