package bgp

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/trellisnet/trellis/internal/route"
)

var (
	pfx  = netip.MustParsePrefix
	addr = netip.MustParseAddr
)

// freePort returns a TCP port that was free on a loopback address a moment ago.
func freePort(t testing.TB, a netip.Addr) int {
	t.Helper()
	l, err := net.Listen("tcp", netip.AddrPortFrom(a, 0).String())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// recorder keeps the last learned set a speaker reported.
type recorder struct {
	mu   sync.Mutex
	last []route.Route
}

func (r *recorder) set(rs []route.Route) {
	r.mu.Lock()
	r.last = rs
	r.mu.Unlock()
}

func (r *recorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return fmt.Sprint(r.last)
}

// eventually polls cond every 50 ms for up to timeout.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, got := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s: got %s", timeout, what, got)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func startSpeaker(t *testing.T, cfg Config, rec *recorder) *Speaker {
	t.Helper()
	s := New(cfg, rec.set)
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop(context.Background(), false) })
	return s
}

// TestLoopbackSession runs two speakers on 127.0.0.1 and 127.0.0.2 in this process (no
// root needed; traffic stays on loopback).
func TestLoopbackSession(t *testing.T) {
	ctx := context.Background()
	a1, a2 := addr("127.0.0.1"), addr("127.0.0.2")
	p1, p2 := freePort(t, a1), freePort(t, a2)
	var recA, recB recorder
	sa := startSpeaker(t, Config{RouterID: a1, ASNumber: 64512, ListenAddress: a1, ListenPort: p1, ConnectRetry: time.Second}, &recA)
	sb := startSpeaker(t, Config{RouterID: a2, ASNumber: 64512, ListenAddress: a2, ListenPort: p2, ConnectRetry: time.Second}, &recB)
	if err := sa.SetPeers(ctx, []route.Peer{{Address: a2, Port: uint16(p2), ASNumber: 64512, Node: "b", Source: "mesh", RestartTime: 120}}); err != nil {
		t.Fatal(err)
	}
	if err := sb.SetPeers(ctx, []route.Peer{{Address: a1, Port: uint16(p1), ASNumber: 64512, Node: "a", Source: "mesh", Passive: true, RestartTime: 120}}); err != nil {
		t.Fatal(err)
	}
	if err := sa.SetPrefixes([]netip.Prefix{pfx("10.244.0.0/26")}); err != nil {
		t.Fatal(err)
	}
	if err := sb.SetPrefixes([]netip.Prefix{pfx("10.244.1.0/26"), pfx("10.244.1.64/26"), pfx("203.0.113.0/24")}); err != nil {
		t.Fatal(err)
	}
	sa.SetAccept([]netip.Prefix{pfx("10.244.0.0/16")})
	sb.SetAccept([]netip.Prefix{pfx("10.244.0.0/16")})

	want := "[10.244.1.0/26 via 127.0.0.2 10.244.1.64/26 via 127.0.0.2]"
	eventually(t, 20*time.Second, "a learns b's blocks", func() (bool, string) { return recA.String() == want, recA.String() })
	eventually(t, 5*time.Second, "b learns a's block", func() (bool, string) {
		return recB.String() == "[10.244.0.0/26 via 127.0.0.1]", recB.String()
	})
	eventually(t, 5*time.Second, "a in sync", func() (bool, string) { return sa.Synced(), "not synced" })

	st, err := sa.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(st) != 1 || !st[0].Established() || st[0].Address != a2 || st[0].Received != 3 || st[0].Accepted != 3 ||
		st[0].Advertised != 1 || st[0].Uptime(time.Now()) < 0 || st[0].Since.IsZero() {
		t.Errorf("a's status = %+v, want b established, 3 received, 3 accepted, 1 advertised", st)
	}

	// Withdraw one prefix, stop accepting, accept more.
	if err := sb.SetPrefixes([]netip.Prefix{pfx("10.244.1.0/26"), pfx("203.0.113.0/24")}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "withdrawal reaches a", func() (bool, string) {
		return recA.String() == "[10.244.1.0/26 via 127.0.0.2]", recA.String()
	})
	sa.SetAccept([]netip.Prefix{pfx("10.244.0.0/16"), pfx("203.0.113.0/24")})
	eventually(t, 5*time.Second, "a accepts 203.0.113.0/24", func() (bool, string) {
		return recA.String() == "[10.244.1.0/26 via 127.0.0.2 203.0.113.0/24 via 127.0.0.2]", recA.String()
	})

	// A removed peer takes its routes with it.
	if err := sa.SetPeers(ctx, nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "a forgets b's routes", func() (bool, string) { return recA.String() == "[]", recA.String() })
	if st, _ := sa.Status(ctx); len(st) != 0 {
		t.Errorf("status after removing the peer = %+v, want none", st)
	}
}

func TestApiPeer(t *testing.T) {
	s := New(Config{RouterID: addr("192.0.2.1"), ASNumber: 64512, ListenAddress: addr("192.0.2.1"), ClusterID: "224.0.0.1"}, nil)
	p := s.apiPeer(route.Peer{Address: addr("192.0.2.2"), Port: 1179, ASNumber: 64512, Node: "b", Source: "bgppeer/rr",
		RRClient: true, Passive: true, RestartTime: 300})
	if p.Conf.NeighborAddress != "192.0.2.2" || p.Conf.PeerAsn != 64512 || p.Conf.Description != "node b (bgppeer/rr)" {
		t.Errorf("conf = %v", p.Conf)
	}
	if !p.Transport.PassiveMode || p.Transport.RemotePort != 1179 || p.Transport.LocalAddress != "192.0.2.1" {
		t.Errorf("transport = %v", p.Transport)
	}
	if !p.RouteReflector.GetRouteReflectorClient() || p.RouteReflector.RouteReflectorClusterId != "224.0.0.1" {
		t.Errorf("route reflector = %v", p.RouteReflector)
	}
	if !p.GracefulRestart.Enabled || p.GracefulRestart.RestartTime != 300 || !p.AfiSafis[0].MpGracefulRestart.Config.Enabled {
		t.Errorf("graceful restart = %v / %v", p.GracefulRestart, p.AfiSafis[0])
	}
	if p := s.apiPeer(route.Peer{Address: addr("198.51.100.1"), ASNumber: 65000}); p.RouteReflector != nil || p.Transport.PassiveMode {
		t.Errorf("plain eBGP peer = %v", p)
	}
}

// pair starts two established loopback speakers; b advertises one block to a.
func pair(t *testing.T) (sa, sb *Speaker, recA *recorder) {
	t.Helper()
	ctx := context.Background()
	a1, a2 := addr("127.0.0.1"), addr("127.0.0.2")
	p1, p2 := freePort(t, a1), freePort(t, a2)
	recA = &recorder{}
	sa = startSpeaker(t, Config{RouterID: a1, ASNumber: 64512, ListenAddress: a1, ListenPort: p1, ConnectRetry: time.Second}, recA)
	sb = startSpeaker(t, Config{RouterID: a2, ASNumber: 64512, ListenAddress: a2, ListenPort: p2, ConnectRetry: time.Second}, &recorder{})
	if err := sa.SetPeers(ctx, []route.Peer{{Address: a2, Port: uint16(p2), ASNumber: 64512, RestartTime: 120}}); err != nil {
		t.Fatal(err)
	}
	if err := sb.SetPeers(ctx, []route.Peer{{Address: a1, Port: uint16(p1), ASNumber: 64512, Passive: true, RestartTime: 120}}); err != nil {
		t.Fatal(err)
	}
	if err := sb.SetPrefixes([]netip.Prefix{pfx("10.244.1.0/26")}); err != nil {
		t.Fatal(err)
	}
	sa.SetAccept([]netip.Prefix{pfx("10.244.0.0/16")})
	eventually(t, 20*time.Second, "a learns b's block", func() (bool, string) {
		return recA.String() == "[10.244.1.0/26 via 127.0.0.2]", recA.String()
	})
	return sa, sb, recA
}

func TestStop(t *testing.T) {
	t.Run("graceful: the peer keeps the routes", func(t *testing.T) {
		sa, sb, recA := pair(t)
		if err := sb.Stop(context.Background(), true); err != nil {
			t.Fatal(err)
		}
		eventually(t, 5*time.Second, "a sees b down", func() (bool, string) {
			st, _ := sa.Status(context.Background())
			return len(st) == 1 && !st[0].Established(), fmt.Sprint(st)
		})
		time.Sleep(300 * time.Millisecond)
		if got := recA.String(); got != "[10.244.1.0/26 via 127.0.0.2]" {
			t.Errorf("after b's graceful stop a has %s, want b's block kept", got)
		}
		if sa.Synced() {
			t.Errorf("a reports synced while b is down")
		}
	})
	t.Run("hard: the peer drops the routes", func(t *testing.T) {
		_, sb, recA := pair(t)
		if err := sb.Stop(context.Background(), false); err != nil {
			t.Fatal(err)
		}
		eventually(t, 5*time.Second, "a drops b's block", func() (bool, string) { return recA.String() == "[]", recA.String() })
	})
}
