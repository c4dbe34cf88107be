package agent

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trellisnet/trellis/internal/agent/agentapi"
	"github.com/trellisnet/trellis/internal/netns"
	"github.com/trellisnet/trellis/internal/store"
	"github.com/trellisnet/trellis/internal/store/memory"
	"github.com/trellisnet/trellis/internal/testnet"
)

const testTable = "trellis"

// kernelEnv is a "host" namespace with pods, a memory store and an in-process agent whose
// nft runs inside the host namespace.
type kernelEnv struct {
	net   *testnet.Net
	st    store.Store
	agent *Agent
	cfg   Config
}

// newKernelEnv builds the topology and the agent's dependencies; start runs the agent.
func newKernelEnv(t *testing.T, pods int, cfg Config) *kernelEnv {
	t.Helper()
	n := testnet.New(t, testnet.Config{Pods: pods})
	t.Cleanup(func() {
		// The namespace takes the table with it; delete it by name first all the same.
		_ = netns.Do(n.Host, func() error {
			return exec.Command("nft", "delete", "table", "inet", testTable).Run()
		})
	})
	dp, err := KernelDataplane(context.Background(), n.Host, testTable)
	if err != nil {
		t.Fatalf("open nftables in %s: %v", n.Host, err)
	}
	st := memory.New(100000)
	cfg.TableName = testTable
	return &kernelEnv{net: n, st: st, agent: New(cfg, st, dp, testLogger(t)), cfg: cfg}
}

// nftIn runs nft in namespace ns and returns its output.
func nftIn(t testing.TB, ns string, args ...string) string {
	t.Helper()
	var out []byte
	err := netns.Do(ns, func() error {
		var err error
		out, err = exec.Command("nft", args...).CombinedOutput()
		return err
	})
	if err != nil {
		t.Fatalf("nft %s in %s: %v: %s", strings.Join(args, " "), ns, err, out)
	}
	return string(out)
}

// podWEPs writes a Namespace per distinct namespace and a WorkloadEndpoint per pod, on node.
func podWEPs(n *testnet.Net, node string, spec []podSpec) string {
	var b strings.Builder
	seen := map[string]bool{}
	for i, p := range spec {
		if !seen[p.ns] {
			seen[p.ns] = true
			b.WriteString(nsYAML(p.ns))
		}
		pod := n.Pods[i]
		b.WriteString(wepYAML(p.ns, fmt.Sprintf("pod%d", i), node, pod.HostIf, map[string]string{"app": p.app},
			netip.PrefixFrom(pod.IPv4, 32).String(), netip.PrefixFrom(pod.IPv6, 128).String()))
	}
	return b.String()
}

// probe sends c's probe and reports whether it got through; an error other than a
// dropped packet (no reply) fails the test, so "denied" always means "dropped".
func probe(n *testnet.Net, c connCase, timeout time.Duration) (bool, error) {
	dst := n.Pods[c.dst].IPv4
	if c.v6 {
		dst = n.Pods[c.dst].IPv6
	}
	err := testnet.Probe(n.Pods[c.src].NS, c.proto, dst, c.port, timeout)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, testnet.ErrNoReply):
		return false, nil
	default:
		return false, err
	}
}

// matrixHolds probes every case in parallel and returns the mismatches ("" if none).
func matrixHolds(n *testnet.Net, cases []connCase, want func(connCase) bool) string {
	var mu sync.Mutex
	var bad []string
	var wg sync.WaitGroup
	for _, c := range cases {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := probe(n, c, 400*time.Millisecond)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				bad = append(bad, fmt.Sprintf("%s: %v", c, err))
			} else if ok != want(c) {
				bad = append(bad, fmt.Sprintf("%s: allowed=%v, want %v", c, ok, want(c)))
			}
		}()
	}
	wg.Wait()
	return strings.Join(bad, "; ")
}

func TestKernelScenario(t *testing.T) {
	testnet.RequireRoot(t)
	cfg := testConfig(t, "node1")
	e := newKernelEnv(t, 4, cfg)
	for _, p := range e.net.Pods {
		for _, port := range []int{5432, 8080, 9999} {
			testnet.Serve(t, p.NS, port)
		}
	}
	put(t, e.st, podWEPs(e.net, "node1", scenarioPods)+scenarioPolicies)
	startAgent(t, e.agent)

	// One table drives the scenario and its trace through the fake (TestTraceScenario).
	cases := loadScenarioTable(t)
	eventually(t, 10*time.Second, func() string {
		return matrixHolds(e.net, cases, func(c connCase) bool { return c.want })
	})
	// The rule counters of the allowing rule show in /metrics.
	body, code, err := agentapi.NewClient(cfg.StatusSocket).Get(context.Background(), "/metrics")
	if err != nil || code != 200 {
		t.Fatalf("scrape metrics: code %d, err %v", code, err)
	}
	re := regexp.MustCompile(`trellis_rule_packets_total\{direction="ingress",policy="back/db-ingress",rule="0",tier="default"\} (\d+)`)
	if m := re.FindSubmatch(body); m == nil || string(m[1]) == "0" {
		t.Errorf("no packets counted for back/db-ingress ingress rule 0 in /metrics:\n%s", grepLines(string(body), "trellis_rule_"))
	}

	put(t, e.st, scenarioChange)
	eventually(t, 10*time.Second, func() string {
		return matrixHolds(e.net, cases, func(c connCase) bool { return c.after })
	})
	s := e.agent.Status()
	if !s.Ready || s.Endpoints != 4 || s.Policies != 2 {
		t.Errorf("status = %+v, want ready with 4 endpoints and 2 policies", s)
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// churnPolicy is version i of the server's policy: TCP 7001 allowed from the client in
// even versions only; TCP 7003 (the control port) denied in every version. Each version
// also has a rule of its own, so every update rewrites the policy chain.
func churnPolicy(i int) string {
	allow := ""
	if i%2 == 0 {
		allow = `
  - action: Allow
    protocol: TCP
    source: {selector: "app == 'client'"}
    destination: {ports: [7001]}`
	}
	return fmt.Sprintf(`apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: churn}
spec:
  selector: app == 'server'
  types: [Ingress]
  ingress:
  - action: Deny
    protocol: TCP
    destination: {ports: [7003]}
  - action: Allow
    protocol: UDP
    destination: {ports: [%d]}%s
`, 20000+i, allow)
}

func TestKernelChurn(t *testing.T) {
	testnet.RequireRoot(t)
	cfg := testConfig(t, "node1")
	e := newKernelEnv(t, 2, cfg)
	testnet.Serve(t, e.net.Pods[1].NS, 7001)
	testnet.Serve(t, e.net.Pods[1].NS, 7003)
	put(t, e.st, podWEPs(e.net, "node1", []podSpec{{"churn", "client"}, {"churn", "server"}})+churnPolicy(0))
	startAgent(t, e.agent)
	open := connCase{src: 0, dst: 1, proto: "tcp", port: 7001}
	control := connCase{src: 0, dst: 1, proto: "tcp", port: 7003}
	// Enforced: the flipping port open, the control port dropped (without a table both
	// would be open).
	eventually(t, 10*time.Second, func() string {
		return matrixHolds(e.net, []connCase{open, control}, func(c connCase) bool { return c.port == 7001 })
	})

	var leaked, openOK, openDenied, probes atomic.Int64
	var errs sync.Map
	stop := make(chan struct{})
	var wg sync.WaitGroup
	prober := func(c connCase, onOK, onDenied *atomic.Int64) {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			ok, err := probe(e.net, c, 100*time.Millisecond)
			probes.Add(1)
			switch {
			case err != nil:
				errs.Store(err.Error(), true)
			case ok:
				onOK.Add(1)
			default:
				onDenied.Add(1)
			}
		}
	}
	var controlDenied atomic.Int64
	for range 2 {
		wg.Add(2)
		go prober(control, &leaked, &controlDenied)
		go prober(open, &openOK, &openDenied)
	}
	const flips = 500
	for i := 1; i <= flips; i++ {
		put(t, e.st, churnPolicy(i))
		time.Sleep(4 * time.Millisecond)
	}
	// Let the last version settle, then stop probing.
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	errs.Range(func(k, _ any) bool { t.Errorf("probe error: %v", k); return true })
	if leaked.Load() > 0 {
		t.Errorf("%d probes to the control port (denied by every version) got through", leaked.Load())
	}
	t.Logf("%d flips, %d probes: control denied %d, flipping port open %d / denied %d, syncs %d",
		flips, probes.Load(), controlDenied.Load(), openOK.Load(), openDenied.Load(), e.agent.Status().Syncs)
	if openOK.Load() == 0 || openDenied.Load() == 0 {
		t.Errorf("the flipping port was never seen both open (%d) and denied (%d): the policy did not flip",
			openOK.Load(), openDenied.Load())
	}
	// The last version (even: allowed) is what the kernel enforces.
	eventually(t, 5*time.Second, func() string {
		return matrixHolds(e.net, []connCase{open, control}, func(c connCase) bool { return c.port == 7001 })
	})
}

func TestKernelDriftRepaired(t *testing.T) {
	testnet.RequireRoot(t)
	for _, mode := range []struct {
		name    string
		resync  time.Duration
		monitor bool
	}{
		{"periodic resync", time.Second, false},
		{"nft monitor", 10 * time.Minute, true},
	} {
		t.Run(mode.name, func(t *testing.T) {
			cfg := testConfig(t, "node1")
			cfg.ResyncPeriod = mode.resync
			e := newKernelEnv(t, 2, cfg)
			if !mode.monitor {
				e.agent.dp.Monitor = nil
			}
			testnet.Serve(t, e.net.Pods[1].NS, 7001)
			testnet.Serve(t, e.net.Pods[1].NS, 7003)
			put(t, e.st, podWEPs(e.net, "node1", []podSpec{{"drift", "client"}, {"drift", "server"}})+churnPolicy(0))
			startAgent(t, e.agent)
			cases := []connCase{{src: 0, dst: 1, proto: "tcp", port: 7001}, {src: 0, dst: 1, proto: "tcp", port: 7003}}
			enforced := func() string {
				return matrixHolds(e.net, cases, func(c connCase) bool { return c.port == 7001 })
			}
			eventually(t, 10*time.Second, enforced)
			// Within the resync period, or within seconds with the monitor.
			limit := 2*mode.resync + 3*time.Second
			if mode.monitor {
				limit = 5 * time.Second
			}
			// The periodic resync repairs any drift; the monitor sees every foreign change
			// (TestKernelDriftEveryKind has the rest).
			drifts := [][]string{{"flush", "chain", "inet", testTable, "forward-to"}, {"delete", "table", "inet", testTable}}
			if mode.monitor {
				drifts = append(drifts, []string{"delete", "chain", "inet", testTable, "forward-to"})
			}
			for _, drift := range drifts {
				nftIn(t, e.net.Host, drift...)
				// The drift opens the control port until the repair.
				if ok, err := probe(e.net, cases[1], 300*time.Millisecond); err != nil {
					t.Fatal(err)
				} else if !ok {
					t.Logf("%v: control port already closed again: the repair beat the probe", drift)
				}
				eventually(t, limit, enforced)
			}
		})
	}
}
