package bgp

import (
	"context"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"time"

	api "github.com/osrg/gobgp/v4/api"
)

// PeerStatus is one session as `trellis node status` shows it.
type PeerStatus struct {
	Address     netip.Addr `json:"address"`
	ASNumber    uint32     `json:"asNumber"`
	Description string     `json:"description,omitempty"`
	// State is the BGP FSM state: Idle, Connect, Active, OpenSent, OpenConfirm or
	// Established.
	State string `json:"state"`
	// Since is when the session was last established (zero if never).
	Since      time.Time `json:"since,omitzero"`
	Received   uint64    `json:"received"`
	Accepted   uint64    `json:"accepted"`
	Advertised uint64    `json:"advertised"`
	RRClient   bool      `json:"routeReflectorClient,omitempty"`
	Passive    bool      `json:"passive,omitempty"`
}

// Established reports whether the session is up.
func (p PeerStatus) Established() bool { return p.State == "Established" }

// Uptime is how long the session has been up at now (0 when it is down).
func (p PeerStatus) Uptime(now time.Time) time.Duration {
	if !p.Established() || p.Since.IsZero() {
		return 0
	}
	return now.Sub(p.Since).Truncate(time.Second)
}

// Status lists every configured peer, sorted by address.
func (s *Speaker) Status(ctx context.Context) ([]PeerStatus, error) {
	s.mu.Lock()
	srv, err := s.server()
	s.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("bgp status: %w", err)
	}
	var out []PeerStatus
	err = srv.ListPeer(ctx, &api.ListPeerRequest{EnableAdvertised: true}, func(p *api.Peer) {
		out = append(out, peerStatus(p))
	})
	if err != nil {
		return nil, fmt.Errorf("bgp status: list peers: %w", err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Address.Less(out[j].Address) })
	return out, nil
}

func peerStatus(p *api.Peer) PeerStatus {
	st := PeerStatus{}
	if c := p.GetConf(); c != nil {
		st.Address, _ = netip.ParseAddr(c.NeighborAddress)
		st.ASNumber, st.Description = c.PeerAsn, c.Description
	}
	st.State = sessionState(p.GetState().GetSessionState())
	if st.Established() {
		if up := p.GetTimers().GetState().GetUptime(); up != nil {
			st.Since = up.AsTime()
		}
	}
	for _, af := range p.GetAfiSafis() {
		if s := af.GetState(); s != nil {
			st.Received += s.Received
			st.Accepted += s.Accepted
			st.Advertised += s.Advertised
		}
	}
	st.RRClient = p.GetRouteReflector().GetRouteReflectorClient()
	st.Passive = p.GetTransport().GetPassiveMode()
	return st
}

// sessionState turns SESSION_STATE_OPENSENT into OpenSent.
func sessionState(s api.PeerState_SessionState) string {
	switch s {
	case api.PeerState_SESSION_STATE_IDLE:
		return "Idle"
	case api.PeerState_SESSION_STATE_CONNECT:
		return "Connect"
	case api.PeerState_SESSION_STATE_ACTIVE:
		return "Active"
	case api.PeerState_SESSION_STATE_OPENSENT:
		return "OpenSent"
	case api.PeerState_SESSION_STATE_OPENCONFIRM:
		return "OpenConfirm"
	case api.PeerState_SESSION_STATE_ESTABLISHED:
		return "Established"
	}
	return strings.TrimPrefix(s.String(), "SESSION_STATE_")
}
