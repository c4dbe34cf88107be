package bgp

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sort"

	"github.com/google/uuid"
	api "github.com/osrg/gobgp/v4/api"
	"github.com/osrg/gobgp/v4/pkg/apiutil"
	"github.com/osrg/gobgp/v4/pkg/packet/bgp"

	"github.com/trellisnet/trellis/internal/route"
)

// Hold and keepalive timers of every session (seconds): the common 90/30.
const (
	holdTime  = 90
	keepalive = 30
)

// SetPeers makes the configured peers equal want: new ones are added, removed ones deleted
// (they drop our routes at once), changed ones deleted and added again. It goes on after a
// failing peer and returns every error joined.
func (s *Speaker) SetPeers(ctx context.Context, want []route.Peer) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	srv, err := s.server()
	if err != nil {
		return fmt.Errorf("set peers: %w", err)
	}
	desired := map[netip.Addr]route.Peer{}
	for _, p := range want {
		desired[p.Address] = p
	}
	var errs []error
	for _, a := range sortedAddrs(s.peers) {
		if d, ok := desired[a]; ok && samePeer(d, s.peers[a]) {
			continue
		}
		if err := srv.DeletePeer(ctx, &api.DeletePeerRequest{Address: a.String()}); err != nil {
			errs = append(errs, fmt.Errorf("delete bgp peer %s: %w", a, err))
			continue
		}
		delete(s.peers, a)
		delete(s.eor, a)
	}
	for _, a := range sortedAddrs(desired) {
		if _, ok := s.peers[a]; ok {
			continue
		}
		p := desired[a]
		if err := srv.AddPeer(ctx, &api.AddPeerRequest{Peer: s.apiPeer(p)}); err != nil {
			errs = append(errs, fmt.Errorf("add bgp peer %s as %d: %w", portString(p), p.ASNumber, err))
			continue
		}
		s.peers[a] = p
	}
	return errors.Join(errs...)
}

func samePeer(a, b route.Peer) bool {
	return a.Port == b.Port && a.ASNumber == b.ASNumber && a.RRClient == b.RRClient && a.Passive == b.Passive &&
		a.KeepNextHop == b.KeepNextHop && a.RestartTime == b.RestartTime
}

func sortedAddrs[V any](m map[netip.Addr]V) []netip.Addr {
	out := make([]netip.Addr, 0, len(m))
	for a := range m {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Less(out[j]) })
	return out
}

// apiPeer is gobgp's configuration of one session.
func (s *Speaker) apiPeer(p route.Peer) *api.Peer {
	desc := p.Source
	if p.Node != "" {
		desc = "node " + p.Node + " (" + p.Source + ")"
	}
	ap := &api.Peer{
		Conf:      &api.PeerConf{NeighborAddress: p.Address.String(), PeerAsn: p.ASNumber, Description: desc},
		Transport: &api.Transport{PassiveMode: p.Passive, RemotePort: uint32(p.Port)},
		Timers: &api.Timers{Config: &api.TimersConfig{ConnectRetry: uint64(s.cfg.ConnectRetry.Seconds()),
			HoldTime: holdTime, KeepaliveInterval: keepalive}},
		GracefulRestart: &api.GracefulRestart{Enabled: true, RestartTime: p.RestartTime},
		AfiSafis: []*api.AfiSafi{{
			Config:            &api.AfiSafiConfig{Family: apiutil.ToApiFamily(afi(p.Address), bgp.SAFI_UNICAST), Enabled: true},
			MpGracefulRestart: &api.MpGracefulRestart{Config: &api.MpGracefulRestartConfig{Enabled: true}},
		}},
	}
	for _, a := range []netip.Addr{s.cfg.ListenAddress, s.cfg.ListenAddress6} {
		if a.IsValid() && !a.IsUnspecified() && a.Is4() == p.Address.Is4() {
			ap.Transport.LocalAddress = a.String()
		}
	}
	if p.RRClient {
		ap.RouteReflector = &api.RouteReflector{RouteReflectorClient: true, RouteReflectorClusterId: s.cfg.ClusterID}
	}
	return ap
}

// afi is the address family of sessions to addr: an IPv4 session carries IPv4 unicast,
// an IPv6 session IPv6 unicast (one session per family, as Calico runs them).
func afi(addr netip.Addr) uint16 {
	if addr.Is4() {
		return bgp.AFI_IP
	}
	return bgp.AFI_IP6
}

// SetPrefixes makes the advertised prefixes equal want, each with our next hop of its
// family (an IPv6 prefix needs ListenAddress6).
func (s *Speaker) SetPrefixes(want []netip.Prefix) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	srv, err := s.server()
	if err != nil {
		return fmt.Errorf("set prefixes: %w", err)
	}
	desired := map[netip.Prefix]bool{}
	var errs []error
	for _, p := range want {
		desired[p.Masked()] = true
	}
	for p, id := range s.prefixes {
		if desired[p] {
			continue
		}
		if err := srv.DeletePath(apiutil.DeletePathRequest{UUIDs: []uuid.UUID{id}}); err != nil {
			errs = append(errs, fmt.Errorf("withdraw %s: %w", p, err))
			continue
		}
		delete(s.prefixes, p)
	}
	for p := range desired {
		if _, ok := s.prefixes[p]; ok {
			continue
		}
		path, err := s.localPath(p)
		if err == nil {
			var res []apiutil.AddPathResponse
			res, err = srv.AddPath(apiutil.AddPathRequest{Paths: []*apiutil.Path{path}})
			if err == nil && len(res) == 1 && res[0].Error != nil {
				err = res[0].Error
			}
			if err == nil && len(res) == 1 {
				s.prefixes[p] = res[0].UUID
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("advertise %s: %w", p, err))
		}
	}
	return errors.Join(errs...)
}

func (s *Speaker) localPath(p netip.Prefix) (*apiutil.Path, error) {
	nlri, err := bgp.NewIPAddrPrefix(p)
	if err != nil {
		return nil, err
	}
	if !p.Addr().Is4() {
		nh := s.cfg.ListenAddress6
		if !nh.IsValid() || nh.IsUnspecified() {
			return nil, errors.New("an IPv6 prefix needs an IPv6 listen address")
		}
		mp, err := bgp.NewPathAttributeMpReachNLRI(bgp.RF_IPv6_UC, []bgp.PathNLRI{{NLRI: nlri}}, nh)
		if err != nil {
			return nil, err
		}
		return &apiutil.Path{Family: bgp.RF_IPv6_UC, Nlri: nlri,
			Attrs: []bgp.PathAttributeInterface{bgp.NewPathAttributeOrigin(bgp.BGP_ORIGIN_ATTR_TYPE_IGP), mp}}, nil
	}
	nh, err := bgp.NewPathAttributeNextHop(s.nextHop())
	if err != nil {
		return nil, err
	}
	return &apiutil.Path{Family: bgp.RF_IPv4_UC, Nlri: nlri,
		Attrs: []bgp.PathAttributeInterface{bgp.NewPathAttributeOrigin(bgp.BGP_ORIGIN_ATTR_TYPE_IGP), nh}}, nil
}

// Advertised returns the prefixes currently advertised, sorted.
func (s *Speaker) Advertised() []netip.Prefix {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]netip.Prefix, 0, len(s.prefixes))
	for p := range s.prefixes {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}
