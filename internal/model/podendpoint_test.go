package model

import "testing"

func TestEndpointNameRoundTrip(t *testing.T) {
	tests := []struct {
		node, pod, cid, ifName string
		want                   string
		wantOrch, wantWorkload string
	}{
		{"node-a", "frontend-1", "c1", "eth0", "node--a-k8s-frontend--1-eth0", OrchestratorK8s, "frontend-1"},
		{"n1", "", "abc-def", "eth0", "n1-cni-abc--def-eth0", OrchestratorCNI, "abc-def"},
		{"a--b", "p", "c", "net-1", "a----b-k8s-p-net--1", OrchestratorK8s, "p"},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			name := EndpointName(tc.node, tc.pod, tc.cid, tc.ifName)
			if name != tc.want {
				t.Fatalf("EndpointName = %q, want %q", name, tc.want)
			}
			node, orch, wl, ifName, ok := ParseEndpointName(name)
			if !ok || node != tc.node || orch != tc.wantOrch || wl != tc.wantWorkload || ifName != tc.ifName {
				t.Errorf("ParseEndpointName(%q) = %q %q %q %q %v", name, node, orch, wl, ifName, ok)
			}
		})
	}
	for _, bad := range []string{"", "x", "a-b-c", "a-x-b-c", "a-k8s--b", "a-k8s-b-c-d", "-k8s-p-eth0"} {
		if _, _, _, _, ok := ParseEndpointName(bad); ok {
			t.Errorf("ParseEndpointName(%q) ok, want not", bad)
		}
	}
}
