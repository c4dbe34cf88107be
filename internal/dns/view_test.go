package dns

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	mdns "github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/store"
)

func TestViewSliceMovesBetweenServices(t *testing.T) {
	v := newView()
	v.replace(model.KindService, nil)
	for _, s := range []*corev1.Service{service("default", "a", corev1.ClusterIPNone, nil), service("default", "b", corev1.ClusterIPNone, nil)} {
		v.apply(store.Event{Type: store.EventAdded, Object: s})
	}
	sl := slice("default", "a", "s-1", map[string]bool{"10.244.0.5": true}, nil)
	v.apply(store.Event{Type: store.EventAdded, Object: sl})
	answers := func() [2]int {
		var out [2]int
		for i, n := range []string{"a", "b"} {
			out[i] = len(v.answer("cluster.local", mdns.Question{Name: n + ".default.svc.cluster.local.", Qtype: mdns.TypeA, Qclass: mdns.ClassINET}).answer)
		}
		return out
	}
	if diff := cmp.Diff([2]int{1, 0}, answers()); diff != "" {
		t.Errorf("filed under a (-want +got):\n%s", diff)
	}
	moved := sl.DeepCopy()
	moved.Labels[discoveryv1.LabelServiceName] = "b"
	v.apply(store.Event{Type: store.EventModified, Object: moved})
	if diff := cmp.Diff([2]int{0, 1}, answers()); diff != "" {
		t.Errorf("moved to b (-want +got):\n%s", diff)
	}
	v.apply(store.Event{Type: store.EventDeleted, Object: moved})
	if diff := cmp.Diff([2]int{0, 0}, answers()); diff != "" {
		t.Errorf("deleted (-want +got):\n%s", diff)
	}
}
