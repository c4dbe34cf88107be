package bgp

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/trellisnet/trellis/internal/route"
)

// BenchmarkPropagation measures the time from advertising a new block on one speaker to
// the peer's callback reporting it (two speakers on loopback, session already up). This is
// the BGP part of "a new node's first pod reachable from every other node".
func BenchmarkPropagation(b *testing.B) {
	ctx := context.Background()
	a1, a2 := addr("127.0.0.1"), addr("127.0.0.2")
	p1, p2 := freePort(b, a1), freePort(b, a2)
	seen := make(chan []route.Route, 64)
	sa := New(Config{RouterID: a1, ASNumber: 64512, ListenAddress: a1, ListenPort: p1, ConnectRetry: time.Second}, nil)
	sb := New(Config{RouterID: a2, ASNumber: 64512, ListenAddress: a2, ListenPort: p2, ConnectRetry: time.Second},
		func(rs []route.Route) { seen <- rs })
	for _, s := range []*Speaker{sa, sb} {
		if err := s.Start(ctx); err != nil {
			b.Fatal(err)
		}
		defer s.Stop(ctx, false)
	}
	if err := sa.SetPeers(ctx, []route.Peer{{Address: a2, Port: uint16(p2), ASNumber: 64512, RestartTime: 120}}); err != nil {
		b.Fatal(err)
	}
	if err := sb.SetPeers(ctx, []route.Peer{{Address: a1, Port: uint16(p1), ASNumber: 64512, Passive: true, RestartTime: 120}}); err != nil {
		b.Fatal(err)
	}
	sb.SetAccept([]netip.Prefix{pfx("10.0.0.0/8")})
	deadline := time.Now().Add(20 * time.Second)
	for !sb.Synced() {
		if time.Now().After(deadline) {
			b.Fatal("session did not come up")
		}
		time.Sleep(20 * time.Millisecond)
	}
	var prefixes []netip.Prefix
	b.ResetTimer()
	for i := range b.N {
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 10), byte(i >> 2), byte(i&3) << 6}), 26)
		prefixes = append(prefixes, p)
		if err := sa.SetPrefixes(prefixes); err != nil {
			b.Fatal(err)
		}
		want := fmt.Sprintf("%s via 127.0.0.1", p)
	wait:
		for {
			select {
			case rs := <-seen:
				for _, r := range rs {
					if r.String() == want {
						break wait
					}
				}
			case <-time.After(10 * time.Second):
				b.Fatalf("prefix %s not learned", p)
			}
		}
	}
}
