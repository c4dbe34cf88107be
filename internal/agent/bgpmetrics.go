package agent

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/trellisnet/trellis/internal/agent/agentapi"
)

// bgpStates are the BGP FSM states, always reported by trellis_bgp_peers (zero when no
// session is in them) so that a dashboard finds every state on every agent.
var bgpStates = []string{"Idle", "Connect", "Active", "OpenSent", "OpenConfirm", "Established"}

// bgpDirections are the route counts of a session.
var bgpDirections = []string{"received", "accepted", "advertised"}

var (
	bgpPeersDesc = prometheus.NewDesc("trellis_bgp_peers",
		"BGP sessions of this node's speaker by FSM state; all 0 on a node without a speaker.", []string{"state"}, nil)
	bgpEstablishedDesc = prometheus.NewDesc("trellis_bgp_session_established",
		"1 while the BGP session with a peer is established, else 0 (one series per configured peer).", []string{"peer", "as_number"}, nil)
	bgpPeerRoutesDesc = prometheus.NewDesc("trellis_bgp_peer_routes",
		"Routes of one BGP session: received, accepted (after the import filters) and advertised.", []string{"peer", "direction"}, nil)
	bgpRoutesDesc = prometheus.NewDesc("trellis_bgp_routes",
		"Routes over all of this node's BGP sessions: received, accepted and advertised; 0 without a speaker.", []string{"direction"}, nil)
)

// bgpCollector reads the speaker's sessions at scrape time.
type bgpCollector struct {
	peers func() []agentapi.BGPPeer
}

func (c *bgpCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{bgpPeersDesc, bgpEstablishedDesc, bgpPeerRoutesDesc, bgpRoutesDesc} {
		ch <- d
	}
}

func (c *bgpCollector) Collect(ch chan<- prometheus.Metric) {
	peers := c.peers()
	states := map[string]int{}
	totals := map[string]uint64{}
	for _, p := range peers {
		states[p.State]++
		up := 0.0
		if p.State == "Established" {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(bgpEstablishedDesc, prometheus.GaugeValue, up, p.Address, strconv.FormatUint(uint64(p.ASNumber), 10))
		for i, n := range []uint64{p.Received, p.Accepted, p.Advertised} {
			ch <- prometheus.MustNewConstMetric(bgpPeerRoutesDesc, prometheus.GaugeValue, float64(n), p.Address, bgpDirections[i])
			totals[bgpDirections[i]] += n
		}
	}
	for _, s := range bgpStates {
		ch <- prometheus.MustNewConstMetric(bgpPeersDesc, prometheus.GaugeValue, float64(states[s]), s)
		delete(states, s)
	}
	for s, n := range states { // a state gobgp named that the list lacks
		ch <- prometheus.MustNewConstMetric(bgpPeersDesc, prometheus.GaugeValue, float64(n), s)
	}
	for _, d := range bgpDirections {
		ch <- prometheus.MustNewConstMetric(bgpRoutesDesc, prometheus.GaugeValue, float64(totals[d]), d)
	}
}
