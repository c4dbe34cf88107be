package cni

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/store/memory"
)

// TestEndpointFromStoredPod checks that what the plugin reads of a stored Pod through the
// pod view (labels, annotations, service account, named ports) is what a full corev1.Pod
// holds, with the rest of a realistic PodSpec ignored.
func TestEndpointFromStoredPod(t *testing.T) {
	st := memory.New(10)
	ctx := context.Background()
	pod := &corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: "web-0", Namespace: "shop", Labels: map[string]string{"app": "web"},
			Annotations: map[string]string{AnnotationIPv4Pools: `["pool-a"]`}},
		Spec: corev1.PodSpec{ServiceAccountName: "web-sa", NodeName: "n1",
			Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
			Containers: []corev1.Container{
				{Name: "app", Image: "web:1", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080},
					{Name: "dns", ContainerPort: 53, Protocol: corev1.ProtocolUDP, HostPort: 5353}, {ContainerPort: 9090}},
					ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/"}}}},
				{Name: "sidecar", Ports: []corev1.ContainerPort{{Name: "metrics", ContainerPort: 9100}}},
			}}}
	ns := &corev1.Namespace{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
		ObjectMeta: metav1.ObjectMeta{Name: "shop", Labels: map[string]string{"team": "a"}}}
	sa := &corev1.ServiceAccount{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"},
		ObjectMeta: metav1.ObjectMeta{Name: "web-sa", Namespace: "shop", Labels: map[string]string{"role": "x"}}}
	for _, o := range []model.Object{pod, ns, sa} {
		if _, err := st.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	w := workload{Namespace: "shop", Pod: "web-0", ContainerID: "c1", IfName: "eth0"}
	info, err := lookupPod(ctx, st, w)
	if err != nil {
		t.Fatal(err)
	}
	pools, err := poolsFor(info, AnnotationIPv4Pools, []string{"default"})
	if err != nil || !cmp.Equal(pools, []string{"pool-a"}) {
		t.Errorf("pools from the pod annotation: %v, %v", pools, err)
	}
	wep := buildEndpoint("n1", w, info, "trl0", "aa:bb:cc:dd:ee:ff", nil)
	wantLabels := map[string]string{"app": "web", "pcns.team": "a", "pcsa.role": "x", model.LabelNamespace: "shop",
		model.LabelOrchestrator: "k8s", model.LabelServiceAccount: "web-sa"}
	if diff := cmp.Diff(wantLabels, wep.Labels); diff != "" {
		t.Errorf("labels (-want +got):\n%s", diff)
	}
	wantPorts := []model.WorkloadEndpointPort{
		{Name: "dns", Protocol: model.ProtocolFromString("UDP"), Port: 53, HostPort: 5353},
		{Name: "http", Protocol: model.ProtocolFromString("TCP"), Port: 8080},
		{Name: "metrics", Protocol: model.ProtocolFromString("TCP"), Port: 9100},
	}
	if diff := cmp.Diff(wantPorts, wep.Spec.Ports); diff != "" {
		t.Errorf("ports (-want +got):\n%s", diff)
	}
	if want := []string{"kns.shop", "ksa.shop.web-sa"}; !cmp.Equal(wep.Spec.Profiles, want) {
		t.Errorf("profiles %v, want %v", wep.Spec.Profiles, want)
	}
}
