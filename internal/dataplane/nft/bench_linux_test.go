package nft

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trellisnet/trellis/internal/flow"
	"github.com/trellisnet/trellis/internal/flow/nflog"
	"github.com/trellisnet/trellis/internal/netns"
	"github.com/trellisnet/trellis/internal/policy"
	"github.com/trellisnet/trellis/internal/testnet"
	"sigs.k8s.io/knftables"
)

func requireRootB(b *testing.B) *testnet.Net {
	b.Helper()
	return testnet.New(b, testnet.Config{Pods: 2})
}

// BenchmarkKernelSync measures full and partial sync time and transaction size with 100
// local endpoints: full alternates two states (one policy's port and one set element
// differ), full-nochange repeats one state, partial alternates the two. The -listed
// variants list the kernel's table every time (as after a change by another process);
// the others prove it unchanged by the nftables generation.
func BenchmarkKernelSync(b *testing.B) {
	for _, nPol := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("policies=%d", nPol), func(b *testing.B) {
			n := testnet.New(b, testnet.Config{})
			ctx := context.Background()
			nft, err := NewKernelIn(ctx, n.Host, "trl-bench")
			if err != nil {
				b.Fatal(err)
			}
			// One Renderer, as the agent uses: the two tables share unchanged objects.
			rr := NewRenderer(Config{})
			states := [2]*Table{
				rr.Render(benchState(nPol, 100, false, netip.Addr{}, 0)),
				rr.Render(benchState(nPol, 100, false, netip.Addr{}, 1)),
			}
			ap := NewApplier(nft)
			for _, listed := range []bool{false, true} {
				suffix := map[bool]string{false: "", true: "-listed"}[listed]
				b.Run("full"+suffix, func(b *testing.B) {
					benchFullSync(b, ap, states, listed, true)
				})
				b.Run("full-nochange"+suffix, func(b *testing.B) {
					benchFullSync(b, ap, states, listed, false)
				})
			}
			b.Run("full-after-other-table-vouched", func(b *testing.B) {
				other, err := NewKernelIn(ctx, n.Host, "trl-bench-other")
				if err != nil {
					b.Fatal(err)
				}
				benchVouched(b, ap, states, other)
			})
			b.Run("partial", func(b *testing.B) {
				var ops int
				for i := 0; b.Loop(); i++ {
					res, err := ap.Apply(ctx, states[i%2])
					if err != nil {
						b.Fatal(err)
					}
					if i > 0 {
						ops = res.Operations
					}
				}
				b.ReportMetric(float64(ops), "ops/tx")
			})
		})
	}
}

// benchFullSync runs full syncs alternating between the two states (change) or of the
// first one; listed makes every sync list the kernel's table (Invalidate) instead of
// taking the generation path.
func benchFullSync(b *testing.B, ap *Applier, states [2]*Table, listed, change bool) {
	ctx := context.Background()
	if _, err := ap.FullSync(ctx, states[0]); err != nil {
		b.Fatal(err)
	}
	var ops int
	for i := 0; b.Loop(); i++ {
		if listed {
			ap.Invalidate()
		}
		st := states[0]
		if change {
			st = states[(i+1)%2]
		}
		res, err := ap.FullSync(ctx, st)
		if err != nil {
			b.Fatal(err)
		}
		if res.Listed != listed {
			b.Fatalf("listed %v, want %v", res.Listed, listed)
		}
		ops = res.Operations
	}
	b.ReportMetric(float64(ops), "ops/tx")
	st := states[0].Stats()
	b.ReportMetric(float64(st.Rules), "rules")
	b.ReportMetric(float64(st.Elements), "elements")
}

// BenchmarkKernelConnRate measures new TCP connections per second from one pod to
// another through the host namespace: with no table; with a table holding only the
// conntrack rules (table=conntrack: the fixed cost of any stateful dataplane, mostly
// creating and destroying a conntrack entry per connection); with the Trellis table and N
// policies selecting the destination (the client is allowed by a policy after all of
// them), allow-only runs merged (default) and not merged (one jump per policy); and with
// an equivalent linear ruleset (one rule per policy in one chain); and with the Trellis
// table of 0, 100 and 1,000 ClusterNetworkPolicies that all select the destination
// (table=trellis-cnp, benchCNPState: the client's connection passes every Admin-tier one).
//
// The machine is shared and its load drifts, so every run is paired with a reference:
// a second, identical topology that never has a table. The run alternates slices of
// connections through the two (ABBA order) and reports the table's rate (conns/s), the
// reference's (ref-conns/s) and the median of the per-slice ratios (ratio), which is
// what the targets are about. table=none (no table in either) shows the pairing's own
// bias.
func BenchmarkKernelConnRate(b *testing.B) {
	n := requireRootB(b)
	ref := testnet.New(b, testnet.Config{Pods: 2})
	client, server := n.Pods[0], n.Pods[1]
	testnet.Serve(b, server.NS, portHTTP)
	testnet.Serve(b, ref.Pods[1].NS, portHTTP)
	dst := netip.AddrPortFrom(server.IPv4, portHTTP)
	refDst := netip.AddrPortFrom(ref.Pods[1].IPv4, portHTTP)
	ctx := context.Background()
	nft, err := NewKernelIn(ctx, n.Host, "trl-bench")
	if err != nil {
		b.Fatal(err)
	}
	clear := func() {
		_ = netns.Do(n.Host, func() error {
			_ = exec.Command("nft", "delete", "table", "inet", "trl-bench").Run()
			return exec.Command("nft", "delete", "table", "inet", "trl-linear").Run()
		})
	}
	b.Cleanup(clear)
	run := func(b *testing.B) {
		const slices = 20
		per := max(b.N/slices, 1) // the testing package first calls with b.N=1
		var rates, refRates, ratios []float64
		b.ResetTimer()
		for i := range slices {
			var r, rr float64
			if i%4 == 0 || i%4 == 3 {
				r, rr = connRate(b, client.NS, dst, per), connRate(b, ref.Pods[0].NS, refDst, per)
			} else {
				rr, r = connRate(b, ref.Pods[0].NS, refDst, per), connRate(b, client.NS, dst, per)
			}
			rates, refRates, ratios = append(rates, r), append(refRates, rr), append(ratios, r/rr)
		}
		b.StopTimer()
		b.ReportMetric(median(rates), "conns/s")
		b.ReportMetric(median(refRates), "ref-conns/s")
		b.ReportMetric(median(ratios), "ratio")
	}
	// settle lets the kernel finish the deferred work of a large commit (freeing the
	// previous ruleset, growing hash tables) before measuring.
	settle := func() { time.Sleep(5 * time.Second) }
	b.Run("table=none", once(func(*testing.B) { clear(); settle() }, run))
	b.Run("table=conntrack", once(func(b *testing.B) {
		clear()
		if err := loadLinear(n.Host, -1, client.IPv4); err != nil {
			b.Fatal(err)
		}
		settle()
	}, run))
	for _, nPol := range []int{0, 100, 1000, 10000} {
		st := benchStateRules(nPol, 2, true, client.IPv4, 0, false)
		st.Endpoints[0].Interface, st.Endpoints[1].Interface = client.HostIf, server.HostIf
		st.Endpoints[0].Ingress = policy.Chain{Profiles: []string{"open"}, Final: policy.ActionDeny}
		for _, v := range []struct {
			name string
			cfg  Config
		}{{"trellis", Config{}}, {"trellis-nomerge", Config{MergeRun: -1}}} {
			b.Run(fmt.Sprintf("table=%s/policies=%d", v.name, nPol), once(func(b *testing.B) {
				clear()
				if _, err := NewApplier(nft).FullSync(ctx, Render(v.cfg, sortState(st))); err != nil {
					b.Fatal(err)
				}
				settle()
			}, run))
		}
		b.Run(fmt.Sprintf("table=linear/policies=%d", nPol), once(func(b *testing.B) {
			clear()
			if err := loadLinear(n.Host, nPol, client.IPv4); err != nil {
				b.Fatal(err)
			}
			settle()
		}, run))
	}
	// Flow logs on: the same table logs every verdict to an NFLOG group, and a reader
	// in the namespace turns each logged packet into an aggregated flow observation, as
	// the agent's collector does (table=trellis at the same count is the "off" twin).
	for _, nPol := range []int{0, 1000} {
		st := benchStateRules(nPol, 2, true, client.IPv4, 0, false)
		st.Endpoints[0].Interface, st.Endpoints[1].Interface = client.HostIf, server.HostIf
		st.Endpoints[0].Ingress = policy.Chain{Profiles: []string{"open"}, Final: policy.ActionDeny}
		var stopReader func()
		b.Run(fmt.Sprintf("table=trellis-flowlog/policies=%d", nPol), once(func(b *testing.B) {
			clear()
			if _, err := NewApplier(nft).FullSync(ctx, Render(Config{FlowLogGroup: 23}, sortState(st))); err != nil {
				b.Fatal(err)
			}
			stopReader = readFlowLog(b, n.Host, 23)
			settle()
		}, run))
		if stopReader != nil {
			stopReader()
		}
	}
	for _, nCNP := range []int{0, 100, 1000} {
		b.Run(fmt.Sprintf("table=trellis-cnp/cnps=%d", nCNP), once(func(b *testing.B) {
			clear()
			st := benchCNPState(b, nCNP, tracePeer{iface: client.HostIf, v4: client.IPv4}, tracePeer{iface: server.HostIf, v4: server.IPv4})
			if _, err := NewApplier(nft).FullSync(ctx, Render(Config{}, st)); err != nil {
				b.Fatal(err)
			}
			settle()
		}, run))
	}
}

// once returns a benchmark function that runs setup only the first time the testing
// package calls it (it calls a benchmark once with b.N=1, then with the real b.N), then
// run every time.
func once(setup, run func(b *testing.B)) func(b *testing.B) {
	done := false
	return func(b *testing.B) {
		if !done {
			setup(b)
			done = true
		}
		run(b)
	}
}

// connRate opens count connections from ns to dst, two at a time, and returns the
// rate. Each of the two workers enters ns once (sockets belong to the namespace of the
// thread that creates them), so the client's own overhead is small and the kernel's
// path dominates.
func connRate(b *testing.B, ns string, dst netip.AddrPort, count int) float64 {
	start := time.Now()
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := netns.Do(ns, func() error {
				for range count/2 + w*(count%2) {
					c, err := net.DialTimeout("tcp", dst.String(), 10*time.Second)
					if err != nil {
						return err
					}
					_ = c.(*net.TCPConn).SetLinger(0) // RST on close: no TIME_WAIT exhaustion
					c.Close()
				}
				return nil
			})
			if err != nil {
				b.Error(err)
			}
		}()
	}
	wg.Wait()
	return float64(count) / time.Since(start).Seconds()
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// loadLinear installs the way older dataplanes enforce the same policies: one forward
// chain, conntrack first, then one rule per policy, then the client's allow, then drop.
// nPol < 0 installs only the conntrack rules and accepts the rest: the fixed cost of
// any stateful table (table=conntrack).
func loadLinear(ns string, nPol int, allow netip.Addr) error {
	var sb strings.Builder
	sb.WriteString("table inet trl-linear {\n chain linear {\n  type filter hook forward priority filter;\n")
	sb.WriteString("  ct state established,related accept\n  ct state invalid drop\n")
	if nPol < 0 {
		sb.WriteString("  accept\n }\n}\n")
		return nftFile(ns, sb.String())
	}
	for i := range nPol {
		for j := range 10 {
			a := benchAddr(i, j)
			if j == 0 {
				fmt.Fprintf(&sb, "  ip saddr { %s", a)
			} else {
				fmt.Fprintf(&sb, ", %s", a)
			}
		}
		fmt.Fprintf(&sb, " } tcp dport %d counter accept\n", portHTTP)
	}
	fmt.Fprintf(&sb, "  ip saddr %s tcp dport %d counter accept\n  counter drop\n }\n}\n", allow, portHTTP)
	return nftFile(ns, sb.String())
}

// nftFile loads ruleset text with nft -f inside namespace ns.
func nftFile(ns, text string) error {
	return netns.Do(ns, func() error {
		cmd := exec.Command("nft", "-f", "-")
		cmd.Stdin = strings.NewReader(text)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("load ruleset: %v: %s", err, out)
		}
		return nil
	})
}

// benchVouched runs full syncs (alternating states) each after a commit to another table
// of the namespace, which moves the generation, with a voucher for exactly that commit (as
// the agent's monitor gives it): no sync may list the kernel.
func benchVouched(b *testing.B, ap *Applier, states [2]*Table, other knftables.Interface) {
	ctx := context.Background()
	if _, err := ap.FullSync(ctx, states[0]); err != nil {
		b.Fatal(err)
	}
	var ops int
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		recorded := ap.gen
		tx := other.NewTransaction()
		tx.Add(&knftables.Table{})
		tx.Add(&knftables.Set{Name: fmt.Sprintf("other%d", i), Type: "ipv4_addr"})
		if err := other.Run(ctx, tx); err != nil {
			b.Fatal(err)
		}
		now, _ := generation(ctx, other)
		ap.SetVoucher(func() (uint32, uint32, bool) { return recorded, now, true })
		b.StartTimer()
		res, err := ap.FullSync(ctx, states[(i+1)%2])
		if err != nil {
			b.Fatal(err)
		}
		if res.Listed {
			b.Fatal("a vouched full sync listed the kernel")
		}
		ops = res.Operations
	}
	ap.SetVoucher(nil)
	b.ReportMetric(float64(ops), "ops/tx")
}

// readFlowLog reads NFLOG group in namespace ns until the returned function is called,
// aggregating every logged packet by prefix and addresses; it reports what was read.
func readFlowLog(b *testing.B, ns string, group uint16) func() {
	var r *nflog.Reader
	if err := netns.Do(ns, func() error {
		var err error
		r, err = nflog.Open(nflog.Config{Group: group})
		return err
	}); err != nil {
		b.Fatal(err)
	}
	agg := flow.NewAggregator(time.Now(), 20000)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- r.Run(ctx, func(p nflog.Packet) {
			f := flow.Flow{Source: flow.Endpoint{IP: p.Src.String()}, Destination: flow.Endpoint{IP: p.Dst.String(), Port: int(p.DstPort)},
				Protocol: p.Proto, Action: p.Prefix[1:2], Reporter: p.Prefix[:1], Policies: []flow.PolicyHit{{Name: p.Prefix}}, Connections: 1}
			agg.Add(f)
			if p.Mark != 0 { // the egress allow the mark names: a second flow, as the collector makes
				f.Reporter, f.Policies = "src", []flow.PolicyHit{{Name: fmt.Sprint(p.Mark)}}
				agg.Add(f)
			}
		})
	}()
	return func() {
		cancel()
		if err := <-done; err != nil {
			b.Error(err)
		}
		s := r.Stats()
		b.Logf("flow log: %d packets read, %d lost, %d bad", s.Packets, s.Lost, s.Bad)
		r.Close()
	}
}
