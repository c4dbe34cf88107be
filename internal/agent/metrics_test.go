package agent

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/knftables"

	"github.com/trellisnet/trellis/internal/agent/agentapi"
	"github.com/trellisnet/trellis/internal/metrictest"
	"github.com/trellisnet/trellis/internal/store/memory"
)

// scrapeAgent reads the agent's /metrics through its status socket; empty when it does
// not answer yet.
func scrapeAgent(t *testing.T, a *Agent) metrictest.Families {
	t.Helper()
	body, code, err := agentapi.NewClient(a.cfg.StatusSocket).Get(context.Background(), "/metrics")
	if err != nil || code != 200 {
		return metrictest.Families{}
	}
	fams, err := metrictest.Parse(strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

// TestLoopAndBGPMetrics: the policy loop's runs are counted by the runner's observer, a
// change adds a triggered run, and an agent without a speaker reports its BGP sessions as
// none in every state.
func TestLoopAndBGPMetrics(t *testing.T) {
	mem := memory.New(1000)
	put(t, mem, nsYAML("shop")+wepYAML("shop", "a", "n1", "trla", nil, "10.65.0.2/32"))
	a := New(testConfig(t, "n1"), mem, Dataplane{NFT: knftables.NewFake(knftables.InetFamily, "trellis")}, testLogger(t))
	startAgent(t, a)
	policy := map[string]string{"loop": loopPolicy}
	eventually(t, 5*time.Second, func() string {
		if v, _ := scrapeAgent(t, a).Value("trellis_loop_runs_total", policy); v < 1 {
			return "no policy loop run counted"
		}
		return ""
	})
	before := scrapeAgent(t, a)
	put(t, mem, wepYAML("shop", "b", "n1", "trlb", nil, "10.65.0.3/32"))
	eventually(t, 5*time.Second, func() string {
		after := scrapeAgent(t, a)
		b, _ := before.Value("trellis_loop_runs_total", map[string]string{"loop": loopPolicy, "reason": "triggered"})
		if v, _ := after.Value("trellis_loop_runs_total", map[string]string{"loop": loopPolicy, "reason": "triggered"}); v <= b {
			return fmt.Sprintf("triggered policy runs %v, was %v", v, b)
		}
		return ""
	})
	fams := scrapeAgent(t, a)
	for _, w := range []metricWant{
		{"trellis_loop_errors_total", policy, 0},
		{"trellis_bgp_peers", map[string]string{"state": "Established"}, 0},
		{"trellis_bgp_routes", map[string]string{"direction": "advertised"}, 0},
		{"trellis_agent_endpoints", nil, 2},
	} {
		if got, ok := fams.Value(w.name, w.labels); !ok || got != w.want {
			t.Errorf("%s%v = %v (found %v), want %v", w.name, w.labels, got, ok, w.want)
		}
	}
}

// TestMetricsAddr: --metrics-addr serves /metrics and nothing else (health, status and the
// endpoint question stay on the health address and the socket).
func TestMetricsAddr(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cfg := testConfig(t, "n1")
	cfg.MetricsAddr = addr
	a := New(cfg, memory.New(100), Dataplane{NFT: knftables.NewFake(knftables.InetFamily, "trellis")}, testLogger(t))
	startAgent(t, a)
	eventually(t, 5*time.Second, func() string {
		fams, err := metrictest.Scrape("http://" + addr + "/metrics")
		if err != nil {
			return err.Error()
		}
		if _, ok := fams["trellis_agent_syncs_total"]; !ok {
			return "no trellis_agent_syncs_total"
		}
		return ""
	})
	for _, path := range []string{"/status", "/healthz", agentapi.EndpointPath} {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s on the metrics address: %d, want 404", path, resp.StatusCode)
		}
	}
}
