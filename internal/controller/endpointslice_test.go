package controller

import (
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func pod(name, ip string, ready bool, lbl map[string]string) *corev1.Pod {
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, UID: types.UID("uid-" + name), Labels: lbl},
		Spec: corev1.PodSpec{NodeName: "node1", Containers: []corev1.Container{{Name: "c",
			Ports: []corev1.ContainerPort{{Name: "web", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}}}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}},
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: st}}},
	}
}

// summary is a slice's endpoints as "address ready/serving/terminating port...".
func summary(sl []*discoveryv1.EndpointSlice) []string {
	var out []string
	for _, s := range sl {
		ports := ""
		for _, p := range s.Ports {
			ports += " " + *p.Name + "=" + string(*p.Protocol) + "/" + itoa(*p.Port)
		}
		if len(s.Endpoints) == 0 {
			out = append(out, string(s.AddressType)+" (none)"+ports)
		}
		for _, e := range s.Endpoints {
			out = append(out, string(s.AddressType)+" "+e.Addresses[0]+" "+flag(*e.Conditions.Ready)+flag(*e.Conditions.Serving)+flag(*e.Conditions.Terminating)+" "+*e.NodeName+" "+e.TargetRef.Name+ports)
		}
	}
	return out
}

func itoa(i int32) string { return strconv.Itoa(int(i)) }

func flag(b bool) string {
	if b {
		return "T"
	}
	return "F"
}

func TestDesiredSlices(t *testing.T) {
	web := map[string]string{"app": "web"}
	withSel := func(mod func(*corev1.Service)) *corev1.Service {
		return svc("web", 0, func(s *corev1.Service) {
			s.Spec.Selector = web
			s.Spec.Ports = []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromString("web")},
				{Name: "raw", Port: 81, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(9090)}}
			if mod != nil {
				mod(s)
			}
		})
	}
	unready := pod("b", "10.244.0.2", false, web)
	terminating := pod("c", "10.244.0.3", true, web)
	now := metav1.Now()
	terminating.DeletionTimestamp = &now
	other := pod("d", "10.244.0.4", true, map[string]string{"app": "db"})
	elsewhere := pod("e", "10.244.0.5", true, web)
	elsewhere.Namespace = "prod"
	failed := pod("f", "10.244.0.6", true, web)
	failed.Status.Phase = corev1.PodFailed
	pods := []*corev1.Pod{pod("a", "10.244.0.10", true, web), unready, terminating, other, elsewhere, failed}
	tests := []struct {
		name string
		svc  *corev1.Service
		pods []*corev1.Pod
		want []string
	}{
		{"ready, unready and terminating; named and numeric ports", withSel(nil), pods, []string{
			"IPv4 10.244.0.2 FFF node1 b http=TCP/8080 raw=TCP/9090",
			"IPv4 10.244.0.3 FTT node1 c http=TCP/8080 raw=TCP/9090",
			"IPv4 10.244.0.10 TTF node1 a http=TCP/8080 raw=TCP/9090",
		}},
		{"publishNotReadyAddresses", withSel(func(s *corev1.Service) { s.Spec.PublishNotReadyAddresses = true }), pods[:2], []string{
			"IPv4 10.244.0.2 TFF node1 b http=TCP/8080 raw=TCP/9090",
			"IPv4 10.244.0.10 TTF node1 a http=TCP/8080 raw=TCP/9090",
		}},
		{"no pods: an empty placeholder", withSel(nil), nil, []string{"IPv4 (none)"}},
		{"an unresolvable named port is left out for that pod", withSel(func(s *corev1.Service) {
			s.Spec.Ports[0].TargetPort = intstr.FromString("missing")
		}), pods[:1], []string{"IPv4 10.244.0.10 TTF node1 a raw=TCP/9090"}},
		{"no selector: none", svc("manual", 0, nil), pods, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := DesiredSlices(tt.svc, tt.pods)
			if diff := cmp.Diff(tt.want, summary(got)); diff != "" {
				t.Errorf("endpoints (-want +got):\n%s", diff)
			}
			for _, s := range got {
				if s.Labels[LabelServiceName] != tt.svc.Name || !Managed(s) || s.Namespace != tt.svc.Namespace {
					t.Errorf("slice %s labels %v", s.Name, s.Labels)
				}
			}
		})
	}
}

func TestDesiredSlicesHeadlessAndLarge(t *testing.T) {
	s := svc("big", 0, func(s *corev1.Service) {
		s.Spec.ClusterIP = corev1.ClusterIPNone
		s.Spec.Selector = map[string]string{"app": "big"}
	})
	var pods []*corev1.Pod
	for i := range 250 {
		pods = append(pods, pod("p"+itoa(int32(i)), "10.244."+itoa(int32(i/200))+"."+itoa(int32(i%200+1)), true, map[string]string{"app": "big"}))
	}
	got := DesiredSlices(s, pods)
	if len(got) != 3 {
		t.Fatalf("got %d slices, want 3 (100 endpoints each at most)", len(got))
	}
	n := 0
	for _, sl := range got {
		n += len(sl.Endpoints)
		if _, ok := sl.Labels[LabelHeadless]; !ok {
			t.Errorf("slice %s lacks the headless label", sl.Name)
		}
	}
	if n != 250 {
		t.Errorf("%d endpoints, want 250", n)
	}
}

func TestPlanSlices(t *testing.T) {
	web := map[string]string{"app": "web"}
	s := svc("web", 0, func(s *corev1.Service) { s.Spec.Selector = web })
	pods := []*corev1.Pod{pod("a", "10.244.0.10", true, web)}
	first := PlanSlices([]*corev1.Service{s}, pods, nil)
	if len(first.Create) != 1 || len(first.Update)+len(first.Delete) != 0 {
		t.Fatalf("first plan = %+v", first)
	}
	stored := first.Create[0].DeepCopy()
	stored.ResourceVersion = "7"
	foreign := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "manual-1",
		Labels: map[string]string{LabelServiceName: "manual", LabelManagedBy: "someone"}}}
	if p := PlanSlices([]*corev1.Service{s}, pods, []*discoveryv1.EndpointSlice{stored, foreign}); len(p.Create)+len(p.Update)+len(p.Delete) != 0 {
		t.Errorf("no change expected, got %+v", p)
	}
	pods[0] = pod("a", "10.244.0.10", false, web)
	p := PlanSlices([]*corev1.Service{s}, pods, []*discoveryv1.EndpointSlice{stored, foreign})
	if len(p.Update) != 1 || p.Update[0].ResourceVersion != "7" || *p.Update[0].Endpoints[0].Conditions.Ready {
		t.Errorf("readiness change: plan %+v", p)
	}
	p = PlanSlices(nil, pods, []*discoveryv1.EndpointSlice{stored, foreign})
	if len(p.Delete) != 1 || p.Delete[0].Name != stored.Name {
		t.Errorf("service deleted: plan %+v, want the managed slice deleted only", p)
	}
}
