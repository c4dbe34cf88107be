package agent

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trellisnet/trellis/internal/agent/agentapi"
	"github.com/trellisnet/trellis/internal/netns"
	"github.com/trellisnet/trellis/internal/store"
	"github.com/trellisnet/trellis/internal/store/storetest"
	"github.com/trellisnet/trellis/internal/testnet"
)

// Benchmark sizes (bench/agent/run.sh): 1k policies and 10k endpoints in the store, 100 of
// them local. TRELLIS_BENCH_POLICIES and TRELLIS_BENCH_ENDPOINTS override.
func benchSize(env string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(env)); err == nil && v > 0 {
		return v
	}
	return def
}

func benchObjects(policies, endpoints, local int) []string {
	var docs []string
	for i := range 10 {
		docs = append(docs, nsYAML(fmt.Sprintf("ns%d", i)))
	}
	for i := range policies {
		docs = append(docs, fmt.Sprintf(`apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: p%d, namespace: ns%d}
spec:
  selector: app == 'app%d'
  types: [Ingress]
  ingress:
  - action: Allow
    protocol: TCP
    source: {selector: "role == 'r%d'"}
    destination: {ports: [%d]}
---
`, i, i%10, i%50, i%20, 1000+i%500))
	}
	for j := range endpoints - 2 {
		node, ip := fmt.Sprintf("other%d", j%50), netip.AddrFrom4([4]byte{10, 67, byte(j / 250), byte(j%250 + 1)})
		if j < local-2 {
			node, ip = "bench", netip.AddrFrom4([4]byte{10, 66, byte(j / 250), byte(j%250 + 1)})
		}
		docs = append(docs, wepYAML(fmt.Sprintf("ns%d", j%10), fmt.Sprintf("w%d", j), node, fmt.Sprintf("trlx%d", j),
			map[string]string{"app": fmt.Sprintf("app%d", j%50), "role": fmt.Sprintf("r%d", j%20)}, netip.PrefixFrom(ip, 32).String()))
	}
	return docs
}

// flipPolicy denies UDP 7001 to the server (allow=false) or allows it from the client.
func flipPolicy(allow bool) string {
	port := 1
	if allow {
		port = 7001
	}
	return fmt.Sprintf(`apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: flip}
spec:
  selector: app == 'server'
  types: [Ingress]
  ingress:
  - action: Allow
    protocol: UDP
    source: {selector: "app == 'client'"}
    destination: {ports: [%d]}
`, port)
}

// loadParallel writes objects with a few writers.
func loadParallel(b *testing.B, st store.Store, docs []string) {
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(docs); i += 8 {
				for _, obj := range decode(b, docs[i]) {
					if err := storetest.Put(context.Background(), st, obj); err != nil {
						errs <- err
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
}

// udpOpen reports whether a fresh UDP flow from ns to dst gets an echo within timeout.
func udpOpen(ns string, dst netip.AddrPort, timeout time.Duration) (bool, error) {
	err := testnet.Probe(ns, testnet.UDP, dst.Addr(), int(dst.Port()), timeout)
	if err == nil {
		return true, nil
	}
	if strings.Contains(err.Error(), testnet.ErrNoReply.Error()) {
		return false, nil
	}
	return false, err
}

// flipLatency applies the allowing policy and returns the time until a UDP flow that was
// dropped gets its first echo; the flow sends a datagram every millisecond.
var hostNS string

// The flow uses srcPort, outside the ephemeral range and different for each flip: the
// probes that wait for the deny leave thousands of conntrack entries from random ports,
// and a new flow that happened to reuse one of them would pass as "established".
func flipLatency(ns string, srcPort int, dst netip.AddrPort, apply func() error) (time.Duration, error) {
	var c net.Conn
	if err := netns.Do(ns, func() error {
		var err error
		d := net.Dialer{LocalAddr: &net.UDPAddr{Port: srcPort}}
		c, err = d.Dial("udp", dst.String())
		return err
	}); err != nil {
		return 0, err
	}
	defer c.Close()
	got := make(chan time.Time, 1)
	go func() {
		buf := make([]byte, 64)
		_ = c.SetReadDeadline(time.Now().Add(60 * time.Second))
		if _, err := c.Read(buf); err == nil {
			got <- time.Now()
		}
		close(got)
	}()
	// Sanity: the flow must be dropped before the apply.
	for range 100 {
		_, _ = c.Write([]byte("pre"))
		select {
		case <-got:
			var ct []byte
			_ = netns.Do(hostNS, func() error {
				var err error
				ct, err = os.ReadFile("/proc/thread-self/net/nf_conntrack")
				return err
			})
			return 0, fmt.Errorf("flow open before the apply: local %s; host conntrack:\n%s", c.LocalAddr(), grepLines(string(ct), "dport=7001"))
		case <-time.After(2 * time.Millisecond):
		}
	}
	start := time.Now()
	if err := apply(); err != nil {
		return 0, err
	}
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case at, ok := <-got:
			if !ok {
				return 0, fmt.Errorf("no echo within 60s of the apply")
			}
			return at.Sub(start), nil
		case <-tick.C:
			_, _ = c.Write([]byte("flip"))
		}
	}
}

// BenchmarkApplyToEnforced measures apply-to-enforced latency: each iteration writes a
// policy that opens a dropped UDP flow and times the first echo, TRELLIS_BENCH_FLIPS (50)
// times per b.N. Run it with -benchtime=1x (bench/agent/run.sh): the setup is large.
func BenchmarkApplyToEnforced(b *testing.B) {
	testnet.RequireRoot(b)
	policies, endpoints := benchSize("TRELLIS_BENCH_POLICIES", 1000), benchSize("TRELLIS_BENCH_ENDPOINTS", 10000)
	const local = 100
	_, st := startDatastore(b)
	n := testnet.New(b, testnet.Config{Pods: 2})
	testnet.Serve(b, n.Pods[1].NS, 7001)
	loadStart := time.Now()
	docs := benchObjects(policies, endpoints, local)
	docs = append(docs, nsYAML("bench"), flipPolicy(false),
		wepYAML("bench", "client", "bench", n.Pods[0].HostIf, map[string]string{"app": "client"}, netip.PrefixFrom(n.Pods[0].IPv4, 32).String()),
		wepYAML("bench", "server", "bench", n.Pods[1].HostIf, map[string]string{"app": "server"}, netip.PrefixFrom(n.Pods[1].IPv4, 32).String()))
	loadParallel(b, st, docs)
	b.Logf("loaded %d objects (%d policies, %d endpoints, %d local) in %s", len(docs), policies, endpoints, local, time.Since(loadStart).Round(time.Millisecond))

	dp, err := KernelDataplane(context.Background(), n.Host, testTable)
	if err != nil {
		b.Fatal(err)
	}
	cfg := testConfig(b, "bench")
	cfg.TableName = testTable
	cfg.ResyncPeriod = 10 * time.Minute // measure flips, not periodic full syncs
	cfg.RateLimit = DefaultRateLimit
	a := New(cfg, st, dp, testLogger(b))
	startAgent(b, a)
	b.Cleanup(func() {
		_ = netns.Do(n.Host, func() error { return exec.Command("nft", "delete", "table", "inet", testTable).Run() })
	})
	ready := time.Now()
	for !a.Status().Ready {
		if time.Since(ready) > 5*time.Minute {
			b.Fatal("agent not ready after 5 minutes")
		}
		time.Sleep(10 * time.Millisecond)
	}
	s := a.Status()
	b.Logf("in sync: first full sync %.1f ms; %d endpoints, %d policies, %d chains, %d rules, %d sets, %d elements, %d operations",
		s.LastSyncSeconds*1000, s.Endpoints, s.Policies, s.Chains, s.Rules, s.Sets, s.SetElements, s.LastOperations)

	dst := netip.AddrPortFrom(n.Pods[1].IPv4, 7001)
	hostNS = n.Host
	flipKind := kind(b, "globalnetworkpolicy")
	apply := func(allow bool) error {
		obj := decode(b, flipPolicy(allow))[0]
		if _, err := st.Update(context.Background(), obj); err != nil {
			return fmt.Errorf("update %s: %w", flipKind.Kind, err)
		}
		return nil
	}
	flips := benchSize("TRELLIS_BENCH_FLIPS", 50)
	var lat []time.Duration
	b.ResetTimer()
	for range b.N * flips {
		b.StopTimer()
		if err := apply(false); err != nil {
			b.Fatal(err)
		}
		// Denied means three fresh flows in a row get no echo (a single lost echo on a
		// loaded machine must not pass for enforcement).
		deadline := time.Now().Add(60 * time.Second)
		for denied := 0; denied < 3; {
			open, err := udpOpen(n.Pods[0].NS, dst, 300*time.Millisecond)
			if err != nil {
				b.Fatal(err)
			}
			if open {
				denied = 0
				time.Sleep(10 * time.Millisecond) // not too many flows (conntrack entries)
			} else {
				denied++
			}
			if time.Now().After(deadline) {
				b.Fatal("flow still open 60s after the denying policy")
			}
		}
		b.StartTimer()
		d, err := flipLatency(n.Pods[0].NS, 20000+len(lat), dst, func() error { return apply(true) })
		if err != nil {
			b.Fatal(err)
		}
		lat = append(lat, d)
		if testing.Verbose() {
			b.Logf("flip %d: %s", len(lat), d)
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	pct := func(p float64) time.Duration { return lat[min(len(lat)-1, int(float64(len(lat))*p))] }
	b.ReportMetric(float64(pct(0.50).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(pct(0.99).Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
	body, _, err := agentapi.NewClient(cfg.StatusSocket).Get(context.Background(), "/metrics")
	if err == nil {
		b.Logf("flips %d: p50 %s p99 %s max %s; %s", len(lat), pct(0.5), pct(0.99), lat[len(lat)-1], syncSummary(string(body)))
	}
	s = a.Status()
	b.Logf("last sync: %s %.1f ms, %d operations", s.LastSyncType, s.LastSyncSeconds*1000, s.LastOperations)
}

var histRE = regexp.MustCompile(`trellis_agent_sync(?:_phase)?_duration_seconds_(sum|count)\{(?:type|phase)="(\w+)"\} (\S+)`)

// syncSummary gives the mean full and partial sync durations from /metrics.
func syncSummary(metrics string) string {
	v := map[string]float64{}
	for _, m := range histRE.FindAllStringSubmatch(metrics, -1) {
		f, _ := strconv.ParseFloat(m[3], 64)
		v[m[2]+" "+m[1]] = f
	}
	var out []string
	for _, typ := range []string{"full", "partial"} {
		if c := v[typ+" count"]; c > 0 {
			out = append(out, fmt.Sprintf("%s syncs: %.0f, mean %.1f ms", typ, c, v[typ+" sum"]/c*1000))
		}
	}
	for _, ph := range []string{"calculate", "render", "apply"} {
		if c := v[ph+" count"]; c > 0 {
			out = append(out, fmt.Sprintf("mean %s %.1f ms", ph, v[ph+" sum"]/c*1000))
		}
	}
	return strings.Join(out, "; ")
}
