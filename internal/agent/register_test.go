package agent

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"sigs.k8s.io/knftables"

	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/store/memory"
)

// TestRegisterBGPAddress: the agent writes its configured BGP address and AS number to its
// Calico Node at start (calico-node's IP and AS).
func TestRegisterBGPAddress(t *testing.T) {
	mem := memory.New(100)
	put(t, mem, "apiVersion: projectcalico.org/v3\nkind: Node\nmetadata: {name: n1}\nspec: {bgp: {ipv4Address: 198.51.100.1/24}}\n")
	cfg := testConfig(t, "n1")
	cfg.Routing = RoutingOff
	as := model.ASNumber(64513)
	cfg.BGPIPv4Address, cfg.ASNumber = "192.0.2.10/24", &as
	startAgent(t, New(cfg, mem, Dataplane{NFT: knftables.NewFake(knftables.InetFamily, "trellis")}, testLogger(t)))
	eventually(t, 5*time.Second, func() string {
		obj, err := mem.Get(context.Background(), model.KindNode, "", "n1")
		if err != nil {
			return err.Error()
		}
		b := obj.(*model.Node).Spec.BGP
		if b == nil || b.IPv4Address != "192.0.2.10/24" || b.ASNumber == nil || *b.ASNumber != 64513 {
			return fmt.Sprintf("bgp %+v", b)
		}
		return ""
	})
}

func TestPickBGPAddress(t *testing.T) {
	pfx := func(s string) netip.Prefix { return netip.MustParsePrefix(s) }
	addrs := []netip.Prefix{pfx("fe80::1/64"), pfx("169.254.0.5/16"), pfx("198.51.100.7/24"), pfx("192.0.2.10/24")}
	tests := []struct {
		internal string
		want     string
	}{
		{"192.0.2.10", "192.0.2.10/24"}, // the interface of the node's InternalIP
		{"", "198.51.100.7/24"},         // else the first global IPv4 address
		{"203.0.113.1", "198.51.100.7/24"},
	}
	for _, tc := range tests {
		var internal netip.Addr
		if tc.internal != "" {
			internal = netip.MustParseAddr(tc.internal)
		}
		got, ok := pickBGPAddress(addrs, internal)
		if !ok || got.String() != tc.want {
			t.Errorf("pickBGPAddress(internal %q) = %s %v, want %s", tc.internal, got, ok, tc.want)
		}
	}
	if _, ok := pickBGPAddress([]netip.Prefix{pfx("fe80::1/64")}, netip.Addr{}); ok {
		t.Error("picked an address without a global IPv4 one")
	}
}
