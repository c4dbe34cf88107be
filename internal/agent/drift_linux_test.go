package agent

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/trellisnet/trellis/internal/testnet"
)

// counterValue reads a counter of the agent's metrics.
func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// ruleHandle finds, in `nft -a list chain` output, the handle of the rule containing sub.
func ruleHandle(t *testing.T, listing, sub string) string {
	t.Helper()
	for _, l := range strings.Split(listing, "\n") {
		if strings.Contains(l, sub) {
			if m := regexp.MustCompile(`# handle (\d+)`).FindStringSubmatch(l); m != nil {
				return m[1]
			}
		}
	}
	t.Fatalf("no rule with %q in:\n%s", sub, listing)
	return ""
}

// TestKernelDriftEveryKind breaks the table behind the agent's back in every way (a flushed
// workload chain, a deleted rule, a removed set element, a removed map element), one by
// one, and checks with real packets that the monitor has the verdicts repaired within 2 s,
// far sooner than the periodic resync (10 minutes here). Before that, it checks that the
// agent's own writes (policy churn) cause no full sync.
func TestKernelDriftEveryKind(t *testing.T) {
	testnet.RequireRoot(t)
	cfg := testConfig(t, "node1")
	cfg.ResyncPeriod = 10 * time.Minute
	e := newKernelEnv(t, 2, cfg)
	testnet.Serve(t, e.net.Pods[1].NS, 7001)
	testnet.Serve(t, e.net.Pods[1].NS, 7003)
	put(t, e.st, podWEPs(e.net, "node1", []podSpec{{"drift", "client"}, {"drift", "server"}})+churnPolicy(0))
	startAgent(t, e.agent)
	allowed := connCase{src: 0, dst: 1, proto: "tcp", port: 7001}
	denied := connCase{src: 0, dst: 1, proto: "tcp", port: 7003}
	enforced := func() string {
		return matrixHolds(e.net, []connCase{allowed, denied}, func(c connCase) bool { return c == allowed })
	}
	eventually(t, 10*time.Second, enforced)
	m := e.agent.metrics
	ownWritesNoFullSync(t, e, enforced)

	server := e.net.Pods[1]
	client := e.net.Pods[0]
	table := nftIn(t, e.net.Host, "-a", "list", "table", "inet", testTable)
	wlChain := regexp.MustCompile(`chain (wl-to-\w+) \{[^}]*jump po-to-`).FindStringSubmatch(table)
	poChain := regexp.MustCompile(`chain (po-to-\w+) \{`).FindStringSubmatch(table)
	clientSet := regexp.MustCompile(`ip saddr @(s4-\w+) tcp dport 7001`).FindStringSubmatch(table)
	if wlChain == nil || poChain == nil || clientSet == nil {
		t.Fatalf("unexpected table:\n%s", table)
	}
	drifts := []struct {
		name string
		cmd  func() []string
	}{
		{"flushed chain", func() []string { return []string{"flush", "chain", "inet", testTable, wlChain[1]} }},
		{"deleted rule", func() []string {
			list := nftIn(t, e.net.Host, "-a", "list", "chain", "inet", testTable, poChain[1])
			return []string{"delete", "rule", "inet", testTable, poChain[1], "handle", ruleHandle(t, list, "tcp dport 7001")}
		}},
		{"removed set element", func() []string {
			return []string{"delete", "element", "inet", testTable, clientSet[1], "{", client.IPv4.String(), "}"}
		}},
		{"removed map element", func() []string {
			return []string{"delete", "element", "inet", testTable, "to-wl", "{", `"` + server.HostIf + `"`, "}"}
		}},
	}
	for i, d := range drifts {
		args := d.cmd()
		start := time.Now()
		nftIn(t, e.net.Host, args...)
		broken, err := probe(e.net, allowed, 100*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		repaired := time.Duration(0)
		for deadline := start.Add(2 * time.Second); time.Now().Before(deadline); {
			if ok, err := probe(e.net, allowed, 100*time.Millisecond); err != nil {
				t.Fatal(err)
			} else if ok {
				repaired = time.Since(start)
				break
			}
		}
		if repaired == 0 {
			t.Fatalf("%s (nft %s): allowed traffic still dropped after 2s", d.name, strings.Join(args, " "))
		}
		if msg := enforced(); msg != "" {
			t.Fatalf("%s: after the repair: %s", d.name, msg)
		}
		t.Logf("%s (nft %s): allowed traffic dropped right after=%v, verdicts repaired in %v",
			d.name, strings.Join(args, " "), !broken, repaired.Round(time.Millisecond))
		if got := counterValue(t, m.driftRepairs); got != float64(i+1) {
			t.Errorf("%s: drift repairs = %v, want %d", d.name, got, i+1)
		}
		time.Sleep(driftMinInterval) // one drift at a time: each measured without the rate limit
	}
}

// ownWritesNoFullSync checks that the agent's own writes are not taken for drift: policy
// churn (partial syncs) adds no full sync.
func ownWritesNoFullSync(t *testing.T, e *kernelEnv, enforced func() string) {
	m := e.agent.metrics
	full := m.syncs.WithLabelValues("full")
	fullBefore := counterValue(t, full)
	for i := 1; i <= 40; i++ {
		put(t, e.st, churnPolicy(i))
		time.Sleep(25 * time.Millisecond)
	}
	time.Sleep(2 * time.Second) // past driftMinInterval and every echo
	eventually(t, 5*time.Second, enforced)
	if got := counterValue(t, full); got != fullBefore || counterValue(t, m.driftRepairs) != 0 {
		t.Fatalf("own writes caused full syncs: %v -> %v full syncs, %v drift repairs",
			fullBefore, got, counterValue(t, m.driftRepairs))
	}
	t.Logf("40 policy changes: %v partial syncs, full syncs stayed at %v", counterValue(t, m.syncs.WithLabelValues("partial")), fullBefore)
}
