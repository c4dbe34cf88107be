package ipamstore_test

import (
	"net/netip"
	"testing"

	"github.com/trellisnet/trellis/internal/ipam"
	"github.com/trellisnet/trellis/internal/ipam/ipamstore"
)

func TestWorkloadsHolds(t *testing.T) {
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	w := ipamstore.Workloads{a: {Namespace: "default", Pod: "web", ContainerID: "c1", Node: "n1"}}
	attrs := func(kv ...string) map[string]string {
		m := map[string]string{ipam.AttrNode: "n1"}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	pod := func(ns, name, cid string) map[string]string {
		return attrs(ipam.AttrNamespace, ns, ipam.AttrPod, name, ipam.AttrContainerID, cid)
	}
	for _, tc := range []struct {
		name           string
		addr           netip.Addr
		attrs          map[string]string
		workload, held bool
	}{
		{"its pod holds it", a, pod("default", "web", "c1"), true, true},
		{"container only", a, attrs(ipam.AttrContainerID, "c1"), true, true},
		{"pod only (no container attribute)", a, attrs(ipam.AttrNamespace, "default", ipam.AttrPod, "web"), true, true},
		{"node attribute differs: the endpoint decides", a,
			map[string]string{ipam.AttrNode: "n2", ipam.AttrNamespace: "default", ipam.AttrPod: "web", ipam.AttrContainerID: "c1"}, true, true},
		{"pod gone", b, pod("default", "gone", "c2"), true, false},
		{"sandbox replaced", a, pod("default", "web", "c0"), true, false},
		{"another pod holds the address", a, pod("default", "db", "c1"), true, false},
		{"same name, other namespace", a, pod("other", "web", "c1"), true, false},
		{"tunnel address", b, attrs("type", "vxlanTunnelAddress"), false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			al := ipam.Allocation{Addr: tc.addr, Handle: "h", Attrs: tc.attrs}
			workload, held := w.Holds(al)
			if workload != tc.workload || held != tc.held {
				t.Errorf("Holds = %v, %v; want %v, %v", workload, held, tc.workload, tc.held)
			}
			if got, want := w.InUse(al), !tc.workload || tc.held; got != want {
				t.Errorf("InUse = %v, want %v", got, want)
			}
		})
	}
}
