package nft

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"testing"
	"time"

	"sigs.k8s.io/knftables"

	"github.com/trellisnet/trellis/internal/netns"
	"github.com/trellisnet/trellis/internal/service"
	"github.com/trellisnet/trellis/internal/testnet"
)

// benchServiceState has n TCP services (ClusterIP 10.96.0.0/16 + i, port 80) of three
// endpoints each (10.70.0.0/16 addresses nobody has), except service n/2, whose only
// endpoint is target:port (when valid). variant moves one endpoint of service 0.
func benchServiceState(n int, target netip.AddrPort, variant int) *service.State {
	st := &service.State{Ports: make([]service.Port, 0, n)}
	for i := range n {
		p := service.Port{Namespace: "bench", Service: fmt.Sprintf("svc%05d", i), Family: 4, Protocol: "tcp", Port: 80,
			ClusterIP: offsetAddr(netip.MustParseAddr("10.96.0.0"), i+1)}
		for j := range 3 {
			a := offsetAddr(netip.MustParseAddr("10.70.0.0"), 3*i+j+1)
			if i == 0 && j == 0 && variant%2 == 1 {
				a = netip.MustParseAddr("10.71.0.1")
			}
			p.Cluster = append(p.Cluster, service.Endpoint{Addr: a, Port: 8080, Node: "other"})
		}
		if i == n/2 && target.IsValid() {
			p.Cluster = []service.Endpoint{{Addr: target.Addr(), Port: target.Port(), Node: "node", Local: true}}
			p.Local = p.Cluster
		}
		st.Ports = append(st.Ports, p)
	}
	return st
}

func offsetAddr(base netip.Addr, i int) netip.Addr {
	b := base.As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v += uint32(i)
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

func BenchmarkRenderServices(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		st := benchServiceState(n, netip.AddrPort{}, 0)
		b.Run(fmt.Sprintf("services=%d", n), func(b *testing.B) {
			for b.Loop() {
				RenderServices(Config{}, st)
			}
		})
	}
}

// BenchmarkKernelServiceSync measures a full sync of n services x 3 endpoints into an
// empty table, and a partial sync of one endpoint change on top of it.
func BenchmarkKernelServiceSync(b *testing.B) {
	testnet.RequireRoot(b)
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("services=%d/full", n), func(b *testing.B) {
			want := RenderServices(Config{}, benchServiceState(n, netip.AddrPort{}, 0))
			host := testnet.New(b, testnet.Config{})
			nft := benchTable(b, host.Host, "trlbench")
			for b.Loop() {
				b.StopTimer()
				_ = netns.Do(host.Host, func() error { return runNFT("delete", "table", "inet", "trlbench") })
				b.StartTimer()
				if _, err := NewApplier(nft).FullSync(context.Background(), want); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(want.Stats().Elements), "elements")
		})
		b.Run(fmt.Sprintf("services=%d/partial", n), func(b *testing.B) {
			host := testnet.New(b, testnet.Config{})
			nft := benchTable(b, host.Host, "trlbench")
			sr := NewServiceRenderer(Config{})
			ap := NewApplier(nft)
			if _, err := ap.Apply(context.Background(), sr.Render(benchServiceState(n, netip.AddrPort{}, 0))); err != nil {
				b.Fatal(err)
			}
			v := 0
			for b.Loop() {
				v++
				res, err := ap.Apply(context.Background(), sr.Render(benchServiceState(n, netip.AddrPort{}, v)))
				if err != nil {
					b.Fatal(err)
				}
				if res.Full || res.Operations == 0 {
					b.Fatalf("sync full=%v with %d operations, want a partial one", res.Full, res.Operations)
				}
			}
		})
	}
}

func runNFT(args ...string) error {
	return exec.Command("nft", args...).Run()
}

// benchTable opens table in ns and deletes it when the benchmark ends.
func benchTable(b *testing.B, ns, table string) knftables.Interface {
	b.Helper()
	nft, err := NewKernelIn(context.Background(), ns, table)
	if err != nil {
		b.Fatalf("open nftables in %s: %v", ns, err)
	}
	b.Cleanup(func() {
		if netns.Exists(ns) {
			_ = netns.Do(ns, func() error { return runNFT("delete", "table", "inet", table) })
		}
	})
	return nft
}

// BenchmarkKernelServiceConnRate measures TCP connections per second from a pod to a
// server pod through a ClusterIP with n services programmed, and the same directly to
// the pod's address (same table loaded), and reports their ratio.
func BenchmarkKernelServiceConnRate(b *testing.B) {
	testnet.RequireRoot(b)
	const port = 7001
	for _, n := range []int{1, 1000, 10000} {
		b.Run(fmt.Sprintf("services=%d", n), func(b *testing.B) {
			tn := testnet.New(b, testnet.Config{Pods: 2})
			client, server := tn.Pods[0], tn.Pods[1]
			testnet.Serve(b, server.NS, port)
			st := benchServiceState(n, netip.AddrPortFrom(server.IPv4, port), 0)
			nft := benchTable(b, tn.Host, "trlbench")
			if _, err := NewApplier(nft).Apply(context.Background(), RenderServices(Config{}, st)); err != nil {
				b.Fatal(err)
			}
			vip := netip.AddrPortFrom(st.Ports[n/2].ClusterIP, 80)
			direct := netip.AddrPortFrom(server.IPv4, port)
			// Warm up both paths (and check the service answers).
			for _, dst := range []netip.AddrPort{vip, direct} {
				if _, err := svcConnTime(client.NS, dst, 50); err != nil {
					b.Fatalf("connect to %s: %v", dst, err)
				}
			}
			var viaSvc, viaPod time.Duration
			rounds := 0
			for b.Loop() {
				// Alternate short runs so that both see the same machine load.
				d, err := svcConnTime(client.NS, direct, 200)
				if err != nil {
					b.Fatal(err)
				}
				s, err := svcConnTime(client.NS, vip, 200)
				if err != nil {
					b.Fatal(err)
				}
				viaPod += d
				viaSvc += s
				rounds++
			}
			conns := float64(rounds * 200)
			b.ReportMetric(conns/viaSvc.Seconds(), "svc-conns/s")
			b.ReportMetric(conns/viaPod.Seconds(), "pod-conns/s")
			b.ReportMetric(viaPod.Seconds()/viaSvc.Seconds(), "ratio")
		})
	}
}

// svcConnTime opens and closes (with a reset, leaving no TIME_WAIT) n TCP connections from
// ns to dst one after another and returns the time taken.
func svcConnTime(ns string, dst netip.AddrPort, n int) (time.Duration, error) {
	var took time.Duration
	err := netns.Do(ns, func() error {
		start := time.Now()
		for range n {
			c, err := net.DialTimeout("tcp", dst.String(), time.Second)
			if err != nil {
				return err
			}
			_ = c.(*net.TCPConn).SetLinger(0)
			c.Close()
		}
		took = time.Since(start)
		return nil
	})
	return took, err
}
