package model

import (
	"maps"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestEndpointLabels(t *testing.T) {
	tests := []struct {
		name        string
		ns, sa      string
		pod, nl, sl map[string]string
		want        map[string]string
	}{
		{"no labels anywhere", "web", "default", nil, nil, nil, map[string]string{
			LabelNamespace: "web", LabelOrchestrator: "k8s", LabelServiceAccount: "default"}},
		{"pod, namespace and service-account labels", "shop", "web-sa",
			map[string]string{"app": "web"}, map[string]string{"team": "a"}, map[string]string{"role": "x"},
			map[string]string{"app": "web", "pcns.team": "a", "pcsa.role": "x",
				LabelNamespace: "shop", LabelOrchestrator: "k8s", LabelServiceAccount: "web-sa"}},
		{"identity labels win over the pod's own", "shop", "web-sa",
			map[string]string{LabelNamespace: "other", LabelOrchestrator: "cni", LabelServiceAccount: "x", "pcns.team": "pod"},
			map[string]string{"team": "ns"}, nil,
			map[string]string{"pcns.team": "ns",
				LabelNamespace: "shop", LabelOrchestrator: "k8s", LabelServiceAccount: "web-sa"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pod := maps.Clone(tc.pod)
			got := EndpointLabels(tc.ns, tc.sa, tc.pod, tc.nl, tc.sl)
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("labels (-want +got):\n%s", d)
			}
			if d := cmp.Diff(pod, tc.pod); d != "" {
				t.Errorf("pod labels changed (-before +after):\n%s", d)
			}
		})
	}
}
