package agent

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/trellisnet/trellis/internal/agent/agentapi"
	"github.com/trellisnet/trellis/internal/metrictest"
)

// metricWant is one sample a registry must hold.
type metricWant struct {
	name   string
	labels map[string]string
	want   float64
}

func checkMetrics(t *testing.T, reg prometheus.Gatherer, wants []metricWant) {
	t.Helper()
	fams, err := metrictest.Gather(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range wants {
		if got, ok := fams.Value(w.name, w.labels); !ok || got != w.want {
			t.Errorf("%s%v = %v (found %v), want %v", w.name, w.labels, got, ok, w.want)
		}
	}
}

func TestBGPCollector(t *testing.T) {
	var peers []agentapi.BGPPeer
	reg := prometheus.NewRegistry()
	reg.MustRegister(&bgpCollector{peers: func() []agentapi.BGPPeer { return peers }})
	// No speaker: every state at 0, no per-peer series.
	checkMetrics(t, reg, []metricWant{
		{"trellis_bgp_peers", map[string]string{"state": "Established"}, 0},
		{"trellis_bgp_peers", map[string]string{"state": "Idle"}, 0},
		{"trellis_bgp_routes", map[string]string{"direction": "received"}, 0},
	})
	if fams, _ := metrictest.Gather(reg); fams["trellis_bgp_session_established"] != nil {
		t.Error("per-peer series without peers")
	}
	peers = []agentapi.BGPPeer{
		{Address: "192.0.2.2", ASNumber: 64512, State: "Established", Received: 3, Accepted: 2, Advertised: 1},
		{Address: "192.0.2.3", ASNumber: 64512, State: "Active"},
		{Address: "192.0.2.4", ASNumber: 64513, State: "Established", Received: 4, Accepted: 4, Advertised: 1},
	}
	checkMetrics(t, reg, []metricWant{
		{"trellis_bgp_peers", map[string]string{"state": "Established"}, 2},
		{"trellis_bgp_peers", map[string]string{"state": "Active"}, 1},
		{"trellis_bgp_peers", map[string]string{"state": "Idle"}, 0},
		{"trellis_bgp_session_established", map[string]string{"peer": "192.0.2.2", "as_number": "64512"}, 1},
		{"trellis_bgp_session_established", map[string]string{"peer": "192.0.2.3"}, 0},
		{"trellis_bgp_peer_routes", map[string]string{"peer": "192.0.2.2", "direction": "received"}, 3},
		{"trellis_bgp_routes", map[string]string{"direction": "accepted"}, 6},
		{"trellis_bgp_routes", map[string]string{"direction": "advertised"}, 2},
	})
}
