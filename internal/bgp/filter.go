package bgp

import (
	"context"
	"fmt"
	"net/netip"
	"strings"

	api "github.com/osrg/gobgp/v4/api"
	"github.com/osrg/gobgp/v4/pkg/apiutil"
	"github.com/osrg/gobgp/v4/pkg/packet/bgp"

	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/route"
)

// Names of the speaker's gobgp policies. Both sit in the global export assignment (default
// accept): first trellis-export (speakers that are no route reflector: routes learned from
// iBGP peers are never passed on), then trellis-filters (the BGPFilter export rules, each
// statement limited to its peer by a neighbor set).
const (
	policyExport  = "trellis-export"
	policyFilters = "trellis-filters"
)

// policySet is the speaker's whole gobgp routing policy: defined sets and policies.
type policySet struct {
	sets     []*api.DefinedSet
	policies []*api.Policy
	key      string // canonical text of the export rules, to skip no-op updates
}

// buildPolicies translates the export rules of every peer into gobgp policy statements,
// in rule order. Interface rules never match Trellis's routes and are left out; a
// RemotePeers rule becomes two statements (routes from iBGP and from eBGP peers).
func buildPolicies(reflector bool, filters []route.PeerFilter) policySet {
	var ps policySet
	if !reflector {
		ps.policies = append(ps.policies, &api.Policy{Name: policyExport, Statements: []*api.Statement{{
			Name:       "no-transit-internal",
			Conditions: &api.Conditions{RouteType: api.Conditions_ROUTE_TYPE_INTERNAL},
			Actions:    &api.Actions{RouteAction: api.RouteAction_ROUTE_ACTION_REJECT},
		}}})
	}
	var key strings.Builder
	fpol := &api.Policy{Name: policyFilters}
	for _, f := range filters {
		if len(f.Export) == 0 {
			continue
		}
		nset := "trl-peer-" + f.Peer.String()
		bits := 32
		if f.Peer.Is6() {
			bits = 128
		}
		ps.sets = append(ps.sets, &api.DefinedSet{DefinedType: api.DefinedType_DEFINED_TYPE_NEIGHBOR, Name: nset,
			List: []string{netip.PrefixFrom(f.Peer, bits).String()}})
		for i, r := range f.Export {
			fmt.Fprintf(&key, "%s %s\n", f.Peer, r)
			if r.Interface != "" {
				continue
			}
			cond := &api.Conditions{NeighborSet: &api.MatchSet{Type: api.MatchSet_TYPE_ANY, Name: nset}}
			fam := bgp.RF_IPv4_UC
			if r.V6 {
				fam = bgp.RF_IPv6_UC
			}
			cond.AfiSafiIn = []*api.Family{apiutil.ToApiFamily(fam.Afi(), fam.Safi())}
			if r.CIDR.IsValid() {
				pset := fmt.Sprintf("trl-pfx-%s-%d", f.Peer, i)
				lo, hi := r.MinLen, r.MaxLen
				if r.Op == model.BGPFilterEqual || r.Op == model.BGPFilterNotEqual {
					lo, hi = r.CIDR.Bits(), r.CIDR.Bits()
				}
				ps.sets = append(ps.sets, &api.DefinedSet{DefinedType: api.DefinedType_DEFINED_TYPE_PREFIX, Name: pset,
					Prefixes: []*api.Prefix{{IpPrefix: r.CIDR.String(), MaskLengthMin: uint32(lo), MaskLengthMax: uint32(hi)}}})
				t := api.MatchSet_TYPE_ANY
				if r.Op == model.BGPFilterNotEqual || r.Op == model.BGPFilterNotIn {
					t = api.MatchSet_TYPE_INVERT
				}
				cond.PrefixSet = &api.MatchSet{Type: t, Name: pset}
			}
			action := api.RouteAction_ROUTE_ACTION_REJECT
			if r.Action == model.BGPFilterAccept {
				action = api.RouteAction_ROUTE_ACTION_ACCEPT
			}
			types := []api.Conditions_RouteType{api.Conditions_ROUTE_TYPE_UNSPECIFIED}
			if r.RemoteOnly {
				types = []api.Conditions_RouteType{api.Conditions_ROUTE_TYPE_INTERNAL, api.Conditions_ROUTE_TYPE_EXTERNAL}
			}
			for j, rt := range types {
				c := cloneConditions(cond)
				c.RouteType = rt
				fpol.Statements = append(fpol.Statements, &api.Statement{
					Name:       fmt.Sprintf("trl-filter-%s-%d-%d", f.Peer, i, j),
					Conditions: c, Actions: &api.Actions{RouteAction: action}})
			}
		}
	}
	ps.policies = append(ps.policies, fpol)
	ps.key = key.String()
	return ps
}

func cloneConditions(c *api.Conditions) *api.Conditions {
	return &api.Conditions{NeighborSet: c.NeighborSet, PrefixSet: c.PrefixSet, AfiSafiIn: c.AfiSafiIn}
}

// installPolicies defines the speaker's policies without filters and assigns them to the
// global export direction (default accept).
func installPolicies(ctx context.Context, srv interface {
	SetPolicies(context.Context, *api.SetPoliciesRequest) error
	AddPolicyAssignment(context.Context, *api.AddPolicyAssignmentRequest) error
}, reflector bool) error {
	ps := buildPolicies(reflector, nil)
	if err := srv.SetPolicies(ctx, &api.SetPoliciesRequest{DefinedSets: ps.sets, Policies: ps.policies}); err != nil {
		return fmt.Errorf("start bgp speaker: define export policies: %w", err)
	}
	err := srv.AddPolicyAssignment(ctx, &api.AddPolicyAssignmentRequest{Assignment: &api.PolicyAssignment{
		Name: "global", Direction: api.PolicyDirection_POLICY_DIRECTION_EXPORT, Policies: ps.policies,
		DefaultAction: api.RouteAction_ROUTE_ACTION_ACCEPT}})
	if err != nil {
		return fmt.Errorf("start bgp speaker: assign export policies: %w", err)
	}
	return nil
}

// SetFilters sets the BGPFilter rules of the peers: import rules decide which learned
// paths Learned reports (see SetImportFilters), export rules become gobgp export policy
// statements. When the export rules change, the policy is replaced at once and every
// established session is soft-reset outbound, so a peer learns newly accepted prefixes
// and loses newly rejected ones within moments.
func (s *Speaker) SetFilters(ctx context.Context, filters []route.PeerFilter) error {
	s.SetImportFilters(filters)
	s.mu.Lock()
	defer s.mu.Unlock()
	srv, err := s.server()
	if err != nil {
		return fmt.Errorf("set bgp export filters: %w", err)
	}
	ps := buildPolicies(s.cfg.ClusterID != "", filters)
	if ps.key == s.exportKey {
		return nil
	}
	if err := srv.SetPolicies(ctx, &api.SetPoliciesRequest{DefinedSets: ps.sets, Policies: ps.policies}); err != nil {
		return fmt.Errorf("set bgp export filters: %w", err)
	}
	s.exportKey = ps.key
	if len(s.peers) == 0 {
		return nil
	}
	if err := srv.ResetPeer(ctx, &api.ResetPeerRequest{Address: "all", Soft: true,
		Direction: api.ResetPeerRequest_DIRECTION_OUT}); err != nil {
		return fmt.Errorf("set bgp export filters: soft reset out: %w", err)
	}
	return nil
}
