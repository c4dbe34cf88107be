package collect

import (
	"cmp"
	"fmt"
	"net/netip"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/trellisnet/trellis/internal/dataplane/nft"
	"github.com/trellisnet/trellis/internal/flow/nflog"
	"github.com/trellisnet/trellis/internal/policy"
)

// The benchmark node: benchNamespaces namespaces of benchPods local pods each (200
// endpoints), benchPolicies NetworkPolicies per namespace in tier default, each pod
// selected by three of them on both sides; benchRemote pods elsewhere in the cluster
// talk to them. Live connections: benchKeys flow keys of benchConnsPerKey connections.
const (
	benchNamespaces  = 20
	benchPods        = 10
	benchPolicies    = 5
	benchRemote      = 1000
	benchKeys        = 2000
	benchConnsPerKey = 5
	benchFlood       = 1_000_000
	benchFloodSlice  = 100_000
)

// Rule indexes of every benchmark policy.
const (
	ruleFromClients = 0 // ingress: allow tcp 8080+k from the remote pods' set
	ruleHTTPS       = 1 // ingress: allow tcp 443 from anywhere
	ruleToDB        = 0 // egress: allow tcp 5432
)

func benchPolicyID(ns, k int) policy.PolicyID {
	return policy.PolicyID{Kind: policy.PolicyNamespaced, Namespace: fmt.Sprintf("team-%02d", ns), Name: fmt.Sprintf("allow-%d", k)}
}

// benchLocal is local pod p of namespace ns; benchLocal6 its IPv6 address.
func benchLocal(ns, p int) netip.Addr { return netip.AddrFrom4([4]byte{10, 65, byte(ns), byte(p + 1)}) }

func benchLocal6(ns, p int) netip.Addr {
	return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 0x65, 14: byte(ns), 15: byte(p + 1)})
}

func benchRemoteAddr(r int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, 66, byte(r >> 8), byte(r)})
}

// benchPolicyIndexes are the policies selecting local pod p, in chain order.
func benchPolicyIndexes(p int) []int {
	return []int{p % benchPolicies, (p + 1) % benchPolicies, (p + 2) % benchPolicies}
}

// benchState is the benchmark node's calculated state, sorted as the calculation emits it
// (Trace looks policies up by binary search). Policy k of a namespace allows TCP 8080+k
// from the remote pods and TCP 443 from anywhere and denies UDP on ingress; on egress it
// allows TCP 5432 and UDP 53 and denies the rest of UDP.
func benchState() *policy.State {
	st := &policy.State{}
	remote := policy.IPSet{ID: "remote-pods", Kind: policy.SetNets}
	for r := range benchRemote {
		remote.Members = append(remote.Members, policy.Member{Prefix: netip.PrefixFrom(benchRemoteAddr(r), 32)})
	}
	st.IPSets = []policy.IPSet{remote}
	port := func(p uint16) []policy.PortRange { return []policy.PortRange{{First: p, Last: p}} }
	for ns := range benchNamespaces {
		for k := range benchPolicies {
			st.Policies = append(st.Policies, policy.Policy{ID: benchPolicyID(ns, k), Tier: "default",
				Ingress: []policy.Rule{
					{Index: ruleFromClients, Name: "from-clients", Action: policy.ActionAllow, Protocol: "tcp",
						Source: policy.Match{IPSets: []string{remote.ID}}, Destination: policy.Match{Ports: port(uint16(8080 + k))}},
					{Index: ruleHTTPS, Name: "https", Action: policy.ActionAllow, Protocol: "tcp", Destination: policy.Match{Ports: port(443)}},
					{Index: 2, Action: policy.ActionDeny, Protocol: "udp"}},
				Egress: []policy.Rule{
					{Index: ruleToDB, Name: "to-db", Action: policy.ActionAllow, Protocol: "tcp", Destination: policy.Match{Ports: port(5432)}},
					{Index: 1, Name: "dns", Action: policy.ActionAllow, Protocol: "udp", Destination: policy.Match{Ports: port(53)}},
					{Index: 2, Action: policy.ActionDeny, Protocol: "udp"}}})
		}
		for p := range benchPods {
			var ids []policy.PolicyID
			for _, k := range benchPolicyIndexes(p) {
				ids = append(ids, benchPolicyID(ns, k))
			}
			chain := func() policy.Chain {
				return policy.Chain{Tiers: []policy.TierChain{{Name: "default", Policies: slices.Clone(ids), End: policy.ActionDeny}},
					Final: policy.ActionDeny}
			}
			st.Endpoints = append(st.Endpoints, policy.Endpoint{Kind: policy.KindWorkload,
				Name: fmt.Sprintf("team-%02d/pod-%02d", ns, p), Namespace: fmt.Sprintf("team-%02d", ns),
				Node: "node-01", Interface: fmt.Sprintf("trl%02d%02d", ns, p),
				Addrs:   []netip.Prefix{netip.PrefixFrom(benchLocal(ns, p), 32), netip.PrefixFrom(benchLocal6(ns, p), 128)},
				Ingress: chain(), Egress: chain()})
		}
	}
	slices.SortFunc(st.Policies, func(a, b policy.Policy) int {
		if a.ID.Less(b.ID) {
			return -1
		}
		if b.ID.Less(a.ID) {
			return 1
		}
		return 0
	})
	slices.SortFunc(st.Endpoints, func(a, b policy.Endpoint) int { return cmp.Compare(a.Name, b.Name) })
	return st
}

// benchNames knows every local and remote pod, as the agent's index of the cluster's
// workload endpoints does.
func benchNames() names {
	n := names{}
	for ns := range benchNamespaces {
		for p := range benchPods {
			v := [2]string{fmt.Sprintf("team-%02d", ns), fmt.Sprintf("pod-%02d", p)}
			n[benchLocal(ns, p)], n[benchLocal6(ns, p)] = v, v
		}
	}
	for r := range benchRemote {
		n[benchRemoteAddr(r)] = [2]string{fmt.Sprintf("clients-%02d", r%50), fmt.Sprintf("client-%04d", r)}
	}
	return n
}

// benchPrefix is the NFLOG prefix of a flow rule of the dictionary; it fails the
// benchmark when the dictionary has no such rule.
func benchPrefix(b *testing.B, rules map[string]nft.FlowRule, want nft.FlowRule) string {
	b.Helper()
	for p, fr := range rules {
		if fr == want {
			return p
		}
	}
	b.Fatalf("no flow rule %+v in the dictionary", want)
	return ""
}

// liveWorkload is the input of one agent interval with benchKeys*benchConnsPerKey live
// allowed connections: their first packets, as NFLOG delivers them, and the conntrack
// dump that follows.
type liveWorkload struct {
	state   *policy.State
	rules   map[string]nft.FlowRule
	names   names
	packets []nflog.Packet
	dump    []ConnCounters
}

// newLiveWorkload builds the connections. Key k joins local pod k%200 and remote pod
// (k%200*10+k/200)%1000: even k/200 ingress from the remote pod to port 8080+i (allowed by
// the pod's policy i), odd egress to the remote pod's port 5432 (allowed by the pod's
// first policy). Each key has benchConnsPerKey connections from distinct source ports.
// With merged set, every packet carries the prefix of the tier's merged run of allow-only
// policies, whose policy the collector finds by tracing the packet through the state.
func newLiveWorkload(b *testing.B, merged bool) *liveWorkload {
	w := &liveWorkload{state: benchState(), names: benchNames()}
	w.rules = nft.FlowRules(w.state)
	for k := range benchKeys {
		e, j := k%(benchNamespaces*benchPods), k/(benchNamespaces*benchPods)
		ns, p := e/benchPods, e%benchPods
		local, remote := benchLocal(ns, p), benchRemoteAddr((e*10+j)%benchRemote)
		pols := benchPolicyIndexes(p)
		want := nft.FlowRule{Ingress: true, Action: policy.ActionAllow, Kind: nft.FlowPolicy, Tier: "default"}
		src, dst, dport := remote, local, uint16(5432)
		if j%2 == 0 {
			i := pols[j/2%len(pols)]
			want.Policy, want.Rule, want.RuleName = benchPolicyID(ns, i), ruleFromClients, "from-clients"
			dport = uint16(8080 + i)
		} else {
			want.Ingress, want.Policy, want.Rule, want.RuleName = false, benchPolicyID(ns, pols[0]), ruleToDB, "to-db"
			src, dst = local, remote
		}
		if merged {
			want = nft.FlowRule{Ingress: want.Ingress, Action: policy.ActionAllow, Kind: nft.FlowMerged, Tier: "default", Rule: -1}
		}
		prefix := benchPrefix(b, w.rules, want)
		for c := range benchConnsPerKey {
			sport := uint16(32768 + k*benchConnsPerKey + c)
			w.packets = append(w.packets, nflog.Packet{Time: t0, Prefix: prefix, Src: src, Dst: dst, Proto: "tcp",
				SrcPort: sport, DstPort: dport, Len: 60})
			w.dump = append(w.dump, ConnCounters{Src: src, Dst: dst, Proto: "tcp", SrcPort: sport, DstPort: dport,
				Packets: uint64(10 + c), Bytes: uint64(4000 + 100*c)})
		}
	}
	return w
}

// collector returns a collector holding the workload's dictionary; counters off leaves
// out the connections waiting for conntrack (only the aggregator holds flows).
func (w *liveWorkload) collector(counters bool) *Collector {
	c := New(Config{Node: "node-01", Counters: counters}, w.names, nil, t0)
	c.Update(w.rules, nft.FlowMarks{}, w.state, nil)
	return c
}

func (w *liveWorkload) observe(c *Collector) {
	for _, p := range w.packets {
		c.Observe(p)
	}
}

// liveHeap is the heap a collector of the workload keeps, after every packet and one
// conntrack dump. It checks what the collector made of them: every connection counted
// and waiting, every key kept, each flow naming the policy rule that allowed it.
func (w *liveWorkload) liveHeap(b *testing.B, counters bool) int64 {
	var c *Collector
	n := heapGrowth(func() {
		c = w.collector(counters)
		w.observe(c)
		if counters {
			c.Counters(w.dump, time.Now())
		}
	})
	want := Stats{Observed: uint64(len(w.packets))}
	wantWaiting := 0
	if counters {
		want.Counted, wantWaiting = uint64(len(w.dump)), len(w.dump)
	}
	if s := c.Stats(); s != want || c.Waiting() != wantWaiting || c.agg.Len() != benchKeys {
		b.Fatalf("stats %+v, %d waiting, %d keys; want %+v, %d waiting, %d keys", s, c.Waiting(), c.agg.Len(), want, wantWaiting, benchKeys)
	}
	for _, f := range c.Flush(t0.Add(15 * time.Second)) {
		if h := f.Policies[0]; h.Kind != string(policy.PolicyNamespaced) || h.Rule != 0 {
			b.Fatalf("flow %s names %s, want rule 0 of a NetworkPolicy", f.Key(), h)
		}
	}
	return n
}

// heapGrowth is how much more heap is live, after a forced collection, once fn has run
// than before: what fn's results keep (they must stay reachable after fn returns).
func heapGrowth(fn func()) int64 {
	before := liveHeap()
	fn()
	return liveHeap() - before
}

func liveHeap() int64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}

const mib = 1 << 20

// BenchmarkLiveFlows: the node agent's collector with 10,000 live allowed connections
// over 2,000 flow keys, each remembered for its conntrack counters, and one conntrack
// dump of all of them: the heap the collector keeps (MiB, bytes-per-live-flow, split
// into what waits for the counters, conn-bytes per connection, and the aggregator,
// key-bytes per flow key), and the time of one Observe (observe-ns) and of one dump
// (counters-ms). An op is one interval: a new collector, every packet, one dump. The
// dictionary (dict-MiB) is built once per programmed table, not per flow.
// prefix=merged: the packets carry a merged run's prefix, so each Observe traces the
// packet through the state to name the policy.
func BenchmarkLiveFlows(b *testing.B) {
	for _, merged := range []bool{false, true} {
		name := "prefix=rule"
		if merged {
			name = "prefix=merged"
		}
		b.Run(name, func(b *testing.B) {
			w := newLiveWorkload(b, merged)
			var dict map[string]nft.FlowRule
			dictHeap := heapGrowth(func() { dict = nft.FlowRules(w.state) })
			runtime.KeepAlive(dict)
			total, aggOnly := w.liveHeap(b, true), w.liveHeap(b, false)
			var observe, dump time.Duration
			rounds := 0
			for b.Loop() {
				c := w.collector(true)
				start := time.Now()
				w.observe(c)
				mid := time.Now()
				c.Counters(w.dump, time.Now())
				observe += mid.Sub(start)
				dump += time.Since(mid)
				rounds++
			}
			conns := float64(len(w.packets))
			b.ReportMetric(float64(total)/mib, "MiB")
			b.ReportMetric(float64(total)/conns, "bytes-per-live-flow")
			b.ReportMetric(float64(total-aggOnly)/conns, "conn-bytes")
			b.ReportMetric(float64(aggOnly)/benchKeys, "key-bytes")
			b.ReportMetric(float64(dictHeap)/mib, "dict-MiB")
			b.ReportMetric(float64(observe.Nanoseconds())/(float64(rounds)*conns), "observe-ns")
			b.ReportMetric(float64(dump.Microseconds())/1000/float64(rounds), "counters-ms")
		})
	}
}

// BenchmarkConnFlood: 1,000,000 allowed connections from distinct addresses (one flow key
// each) to port 443 of one pod, into a collector with the default bounds (MaxKeys
// 20,000, MaxConns 50,000): the heap it keeps after the first 100,000 (MiB-at-100k) and
// after all of them (MiB), both bounded; the observations dropped beyond the bounds
// (dropped-flows, dropped-conns); and Observe's cost per packet over the first and the
// last 100,000 (first-ns, last-ns) and overall (ns-per-pkt). An op is one flood into a
// new collector.
func BenchmarkConnFlood(b *testing.B) {
	st := benchState()
	rules := nft.FlowRules(st)
	prefix := benchPrefix(b, rules, nft.FlowRule{Ingress: true, Action: policy.ActionAllow, Kind: nft.FlowPolicy,
		Tier: "default", Policy: benchPolicyID(0, 0), Rule: ruleHTTPS, RuleName: "https"})
	dst, names := benchLocal6(0, 0), benchNames()
	var first, last, all time.Duration
	var at100k, retained int64
	var stats Stats
	rounds := 0
	for b.Loop() {
		b.StopTimer()
		base := liveHeap()
		b.StartTimer()
		c := New(Config{Node: "node-01", Counters: true}, names, nil, t0)
		c.Update(rules, nft.FlowMarks{}, st, nil)
		for s := range benchFlood / benchFloodSlice {
			start := time.Now()
			for i := s * benchFloodSlice; i < (s+1)*benchFloodSlice; i++ {
				// Sources 2001:db8:ff::/48 + i, one connection each.
				src := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 0xff, 13: byte(i >> 16), 14: byte(i >> 8), 15: byte(i)})
				c.Observe(nflog.Packet{Time: t0, Prefix: prefix, Src: src, Dst: dst, Proto: "tcp",
					SrcPort: uint16(1024 + i%60000), DstPort: 443, Len: 80})
			}
			d := time.Since(start)
			all += d
			switch s {
			case 0:
				first += d
				b.StopTimer()
				at100k = max(at100k, liveHeap()-base)
				b.StartTimer()
			case benchFlood/benchFloodSlice - 1:
				last += d
			}
		}
		b.StopTimer()
		retained = max(retained, liveHeap()-base)
		stats = c.Stats()
		if stats.Observed+stats.DroppedFlows != benchFlood || c.Waiting() != 50000 {
			b.Fatalf("stats %+v, %d waiting; want %d observations kept or dropped, 50,000 waiting", stats, c.Waiting(), benchFlood)
		}
		runtime.KeepAlive(c)
		b.StartTimer()
		rounds++
	}
	b.ReportMetric(float64(at100k)/mib, "MiB-at-100k")
	b.ReportMetric(float64(retained)/mib, "MiB")
	b.ReportMetric(float64(stats.DroppedFlows), "dropped-flows")
	b.ReportMetric(float64(stats.DroppedConns), "dropped-conns")
	n := float64(rounds)
	b.ReportMetric(float64(first.Nanoseconds())/(n*benchFloodSlice), "first-ns")
	b.ReportMetric(float64(last.Nanoseconds())/(n*benchFloodSlice), "last-ns")
	b.ReportMetric(float64(all.Nanoseconds())/(n*benchFlood), "ns-per-pkt")
}
