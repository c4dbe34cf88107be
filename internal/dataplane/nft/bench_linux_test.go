package nft

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/trellisnet/trellis/internal/netns"
	"github.com/trellisnet/trellis/internal/policy"
	"github.com/trellisnet/trellis/internal/testnet"
)

// benchState has nPol policies in one tier and nEp workload endpoints. Policy i selects
// endpoint i%nEp, or every endpoint when allSelect is set; it allows TCP to portHTTP from
// its own selector set (ten addresses nobody uses) and denies UDP from a net. When
// allow is valid, a last policy allows TCP from it (so probes walk every policy first).
// variant changes one policy, one set member and one endpoint's policy order: a typical
// small update for partial syncs.
func benchState(nPol, nEp int, allSelect bool, allow netip.Addr, variant int) *policy.State {
	return benchStateRules(nPol, nEp, allSelect, allow, variant, true)
}

// benchStateRules is benchState; withDeny false leaves out the UDP deny rule, so every
// policy is allow-only (mergeable).
func benchStateRules(nPol, nEp int, allSelect bool, allow netip.Addr, variant int, withDeny bool) *policy.State {
	st := &policy.State{}
	eps := make([]policy.Endpoint, nEp)
	for i := range eps {
		eps[i] = policy.Endpoint{Kind: policy.KindWorkload, Name: fmt.Sprintf("bench/pod%05d", i), Interface: fmt.Sprintf("trlb%d", i),
			Ingress: policy.Chain{Tiers: []policy.TierChain{{Name: "default", End: policy.ActionDeny}}, Final: policy.ActionDeny},
			Egress:  policy.Chain{Profiles: []string{"open"}, Final: policy.ActionDeny}}
	}
	for i := range nPol {
		id := pid(fmt.Sprintf("pol%05d", i))
		set := fmt.Sprintf("set%05d", i)
		port := uint16(portHTTP)
		if i == 0 && variant%2 == 1 {
			port++
		}
		rules := []policy.Rule{{Index: 0, Action: policy.ActionAllow, Protocol: "tcp", Source: policy.Match{IPSets: []string{set}},
			Destination: policy.Match{Ports: []policy.PortRange{{First: port, Last: port}}}}}
		if withDeny {
			rules = append(rules, policy.Rule{Index: 1, Action: policy.ActionDeny, Protocol: "udp",
				Source: policy.Match{Nets: []netip.Prefix{netip.MustParsePrefix("10.200.0.0/16")}}})
		}
		st.Policies = append(st.Policies, policy.Policy{ID: id, Ingress: rules})
		s := policy.IPSet{ID: set, Kind: policy.SetNets}
		for j := range 10 {
			a := benchAddr(i, j)
			if i == 0 && j == 0 && variant%2 == 1 {
				a = netip.MustParseAddr("10.99.99.99")
			}
			s.Members = append(s.Members, policy.Member{Prefix: netip.PrefixFrom(a, 32)})
		}
		st.IPSets = append(st.IPSets, s)
		if allSelect {
			for e := range eps {
				eps[e].Ingress.Tiers[0].Policies = append(eps[e].Ingress.Tiers[0].Policies, id)
			}
		} else {
			e := &eps[i%nEp]
			e.Ingress.Tiers[0].Policies = append(e.Ingress.Tiers[0].Policies, id)
		}
	}
	if variant%2 == 1 && len(eps[0].Ingress.Tiers[0].Policies) > 1 {
		ps := eps[0].Ingress.Tiers[0].Policies
		ps[0], ps[1] = ps[1], ps[0]
	}
	if allow.IsValid() {
		id := pid("zz-allow-client")
		st.Policies = append(st.Policies, policy.Policy{ID: id, Ingress: []policy.Rule{{Action: policy.ActionAllow, Protocol: "tcp",
			Source:      policy.Match{Nets: []netip.Prefix{netip.PrefixFrom(allow, 32)}},
			Destination: policy.Match{Ports: []policy.PortRange{{First: portHTTP, Last: portHTTP}}}}}})
		for e := range eps {
			eps[e].Ingress.Tiers[0].Policies = append(eps[e].Ingress.Tiers[0].Policies, id)
		}
	}
	st.Endpoints = eps
	st.Profiles = []policy.Profile{{Name: "open", Egress: []policy.Rule{{Action: policy.ActionAllow}}}}
	return sortState(st)
}

// benchAddr is member j of policy i's set: distinct addresses in 10.100.0.0/14.
func benchAddr(i, j int) netip.Addr {
	k := i*10 + j
	return netip.AddrFrom4([4]byte{10, byte(100 + k>>16), byte(k >> 8), byte(k)})
}

func requireRootB(b *testing.B) *testnet.Net {
	b.Helper()
	return testnet.New(b, testnet.Config{Pods: 2})
}

// BenchmarkKernelSync measures full and partial sync time and transaction size with 100
// local endpoints.
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
			b.Run("full", func(b *testing.B) {
				var ops int
				for i := 0; b.Loop(); i++ {
					res, err := ap.FullSync(ctx, states[i%2])
					if err != nil {
						b.Fatal(err)
					}
					ops = res.Operations
				}
				b.ReportMetric(float64(ops), "ops/tx")
				st := states[0].Stats()
				b.ReportMetric(float64(st.Rules), "rules")
				b.ReportMetric(float64(st.Elements), "elements")
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

// BenchmarkKernelConnRate measures new TCP connections per second from one pod to
// another through the host namespace: with no table; with the Trellis table and N
// policies selecting the destination (the client is allowed by a policy after all of
// them), allow-only runs merged (default) and not merged (one jump per policy); and with
// an equivalent linear ruleset (one rule per policy in one chain).
func BenchmarkKernelConnRate(b *testing.B) {
	n := requireRootB(b)
	client, server := n.Pods[0], n.Pods[1]
	testnet.Serve(b, server.NS, portHTTP)
	dst := netip.AddrPortFrom(server.IPv4, portHTTP)
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
		b.SetParallelism(2)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := connectOnce(client.NS, dst); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "conns/s")
	}
	// settle lets the kernel finish the deferred work of a large commit (freeing the
	// previous ruleset, growing hash tables) before measuring.
	settle := func() { time.Sleep(5 * time.Second) }
	b.Run("table=none", func(b *testing.B) { clear(); settle(); run(b) })
	for _, nPol := range []int{0, 100, 1000, 10000} {
		st := benchStateRules(nPol, 2, true, client.IPv4, 0, false)
		st.Endpoints[0].Interface, st.Endpoints[1].Interface = client.HostIf, server.HostIf
		st.Endpoints[0].Ingress = policy.Chain{Profiles: []string{"open"}, Final: policy.ActionDeny}
		for _, v := range []struct {
			name string
			cfg  Config
		}{{"trellis", Config{}}, {"trellis-nomerge", Config{MergeRun: -1}}} {
			want := Render(v.cfg, sortState(st))
			b.Run(fmt.Sprintf("table=%s/policies=%d", v.name, nPol), func(b *testing.B) {
				clear()
				if _, err := NewApplier(nft).FullSync(ctx, want); err != nil {
					b.Fatal(err)
				}
				settle()
				run(b)
			})
		}
		b.Run(fmt.Sprintf("table=linear/policies=%d", nPol), func(b *testing.B) {
			clear()
			if err := loadLinear(n.Host, nPol, client.IPv4); err != nil {
				b.Fatal(err)
			}
			settle()
			run(b)
		})
	}
}

// loadLinear installs the way older dataplanes enforce the same policies: one forward
// chain, conntrack first, then one rule per policy, then the client's allow, then drop.
func loadLinear(ns string, nPol int, allow netip.Addr) error {
	var sb strings.Builder
	sb.WriteString("table inet trl-linear {\n chain linear {\n  type filter hook forward priority filter;\n")
	sb.WriteString("  ct state established,related accept\n  ct state invalid drop\n")
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
	return netns.Do(ns, func() error {
		cmd := exec.Command("nft", "-f", "-")
		cmd.Stdin = strings.NewReader(sb.String())
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("load linear ruleset: %v: %s", err, out)
		}
		return nil
	})
}

func connectOnce(ns string, dst netip.AddrPort) error {
	c, err := testnet.DialTCP(ns, dst, 10*time.Second)
	if err != nil {
		return err
	}
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0) // RST on close: no TIME_WAIT exhaustion
	}
	return c.Close()
}
