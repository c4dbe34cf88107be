package policy

import (
	"cmp"
	"maps"
	"slices"
	"strings"

	"github.com/trellisnet/trellis/internal/model"
)

// State materialises the current desired state. It is a fresh value the caller may keep.
func (c *Calculator) State() *State {
	b := &builder{c: c, policies: map[PolicyID]bool{}, profiles: map[string]bool{}, sets: map[string]bool{}}
	st := &State{Failsafe: DefaultFailsafe()}
	if c.config != nil {
		st.Failsafe = c.config.Failsafe
	}
	for _, key := range slices.Sorted(maps.Keys(c.local)) {
		st.Endpoints = append(st.Endpoints, b.endpoint(c.endpoints[key], c.idx.members[key]))
	}
	slices.SortFunc(st.Endpoints, func(a, b Endpoint) int {
		return cmp.Or(strings.Compare(string(a.Kind), string(b.Kind)), strings.Compare(a.Name, b.Name))
	})
	for _, id := range slices.SortedFunc(maps.Keys(b.policies), comparePolicyID) {
		p := c.policies[id]
		out := p.out
		if b.policies[id] { // tier missing: fail closed, no rule may allow
			out.Ingress, out.Egress = nil, nil
		}
		b.collectSets(out.Ingress)
		b.collectSets(out.Egress)
		st.Policies = append(st.Policies, clonePolicy(out))
	}
	for _, name := range slices.Sorted(maps.Keys(b.profiles)) {
		p := b.profile(name)
		b.collectSets(p.Ingress)
		b.collectSets(p.Egress)
		st.Profiles = append(st.Profiles, p)
	}
	for _, id := range slices.Sorted(maps.Keys(b.sets)) {
		st.IPSets = append(st.IPSets, b.set(id))
	}
	return st
}

func comparePolicyID(a, b PolicyID) int {
	return cmp.Or(strings.Compare(string(a.Kind), string(b.Kind)),
		strings.Compare(a.Namespace, b.Namespace), strings.Compare(a.Name, b.Name))
}

type builder struct {
	c        *Calculator
	policies map[PolicyID]bool // value: tier missing
	profiles map[string]bool
	sets     map[string]bool
}

func (b *builder) endpoint(ep *EndpointInput, m *member) Endpoint {
	out := Endpoint{Kind: ep.Kind, Name: ep.Name, Namespace: ep.Namespace, Node: ep.Node, Interface: ep.Interface,
		Addrs: slices.Clone(ep.Addrs)}
	slices.SortFunc(out.Addrs, comparePrefix)
	var pols []*compiledPolicy
	if m != nil {
		pols = b.c.selecting(m)
	}
	profiles := slices.Clone(ep.Profiles)
	for _, p := range profiles {
		b.profiles[p] = true
	}
	out.Ingress = b.chain(ep.Kind, pols, chainNormal, true)
	out.Egress = b.chain(ep.Kind, pols, chainNormal, false)
	out.Ingress.Profiles, out.Egress.Profiles = profiles, slices.Clone(profiles)
	out.Ingress.Final, out.Egress.Final = ActionDeny, ActionDeny
	if ep.Kind == KindHost {
		out.PreDNATIngress = b.optional(ep.Kind, pols, chainPreDNAT, true)
		out.UntrackedIngress = b.optional(ep.Kind, pols, chainUntracked, true)
		out.UntrackedEgress = b.optional(ep.Kind, pols, chainUntracked, false)
		out.ForwardIngress = b.optional(ep.Kind, pols, chainForward, true)
		out.ForwardEgress = b.optional(ep.Kind, pols, chainForward, false)
	}
	return out
}

// optional builds a host-endpoint variant chain, nil when no policy applies.
func (b *builder) optional(kind EndpointKind, pols []*compiledPolicy, ck chainKind, ingress bool) *Chain {
	ch := b.chain(kind, pols, ck, ingress)
	if len(ch.Tiers) == 0 {
		return nil
	}
	ch.Final = ActionNone
	if ck == chainForward {
		ch.Final = ActionDeny
	}
	return &ch
}

// builtinTiers exist without a Tier object: Calico's default tier, and the tiers of
// ClusterNetworkPolicy around it (Calico 3.32's kube-admin and kube-baseline, both ending
// in Pass, so a packet no rule decided goes on to the next tier and finally the profiles).
var builtinTiers = map[string]*Tier{
	model.DefaultTierName:      {Name: model.DefaultTierName, Order: ptr(DefaultTierOrder)},
	model.KubeAdminTierName:    {Name: model.KubeAdminTierName, Order: ptr(model.KubeAdminTierOrder), DefaultPass: true},
	model.KubeBaselineTierName: {Name: model.KubeBaselineTierName, Order: ptr(model.KubeBaselineTierOrder), DefaultPass: true},
}

func ptr[T any](v T) *T { return &v }

type tierKey struct {
	missing bool
	order   *float64
	name    string
}

func (c *Calculator) tierKey(name string) (tierKey, *Tier) {
	t, ok := c.tiers[name]
	if !ok {
		if b, ok := builtinTiers[name]; ok {
			return tierKey{order: b.Order, name: name}, b
		}
		return tierKey{missing: true, name: name}, nil
	}
	return tierKey{order: t.Order, name: name}, t
}

func compareOrder(a, b *float64) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return 1
	case b == nil:
		return -1
	}
	return cmp.Compare(*a, *b)
}

func compareTierKey(a, b tierKey) int {
	if a.missing != b.missing { // missing tiers first: they deny before anything can allow
		if a.missing {
			return -1
		}
		return 1
	}
	return cmp.Or(compareOrder(a.order, b.order), strings.Compare(a.name, b.name))
}

func comparePolicies(a, b *compiledPolicy) int {
	return cmp.Or(compareOrder(a.in.Order, b.in.Order), strings.Compare(a.in.ID.Name, b.in.ID.Name),
		comparePolicyID(a.in.ID, b.in.ID))
}

func (b *builder) chain(kind EndpointKind, pols []*compiledPolicy, ck chainKind, ingress bool) Chain {
	byTier := map[string][]*compiledPolicy{}
	for _, p := range pols {
		if p.applies(kind, ck, ingress) {
			byTier[p.out.Tier] = append(byTier[p.out.Tier], p)
		}
	}
	type tierRef struct {
		key  tierKey
		tier *Tier
	}
	var tiers []tierRef
	for name := range byTier {
		k, t := b.c.tierKey(name)
		tiers = append(tiers, tierRef{k, t})
	}
	slices.SortFunc(tiers, func(x, y tierRef) int { return compareTierKey(x.key, y.key) })
	var ch Chain
	for _, t := range tiers {
		ps := byTier[t.key.name]
		slices.SortFunc(ps, comparePolicies)
		tc := TierChain{Name: t.key.name, End: ActionDeny}
		if t.tier != nil && t.tier.DefaultPass {
			tc.End = ActionPass
		}
		if ck == chainUntracked || ck == chainPreDNAT {
			tc.End = ActionPass
		}
		for _, p := range ps {
			tc.Policies = append(tc.Policies, p.in.ID)
			b.policies[p.in.ID] = t.key.missing
		}
		ch.Tiers = append(ch.Tiers, tc)
	}
	return ch
}

// profile returns the compiled profile: a user profile, the allow-all kns.<ns> of an existing
// namespace, the rule-less ksa.<ns>.<sa>, or (missing) an empty profile that decides nothing.
func (b *builder) profile(name string) Profile {
	if p, ok := b.c.profiles[name]; ok {
		return clonePolicy(Policy{Ingress: p.out.Ingress, Egress: p.out.Egress}).asProfile(name)
	}
	if ns, ok := cutPrefix(name, model.PrefixProfileNamespace); ok {
		if _, ok := b.c.namespaces[ns]; ok {
			return Profile{Name: name, Ingress: []Rule{{Action: ActionAllow}}, Egress: []Rule{{Action: ActionAllow}}}
		}
	}
	return Profile{Name: name}
}

func (p Policy) asProfile(name string) Profile {
	return Profile{Name: name, Ingress: p.Ingress, Egress: p.Egress}
}

func (b *builder) collectSets(rules []Rule) {
	for i := range rules {
		for _, m := range []*Match{&rules[i].Source, &rules[i].Destination} {
			for _, l := range [][]string{m.IPSets, m.NotIPSets, m.NamedPortSets, m.NotNamedPortSets} {
				for _, id := range l {
					b.sets[id] = true
				}
			}
		}
	}
}

// set materialises one IP set's members.
func (b *builder) set(id string) IPSet {
	if s, ok := b.c.serviceIPSet(id); ok {
		return s
	}
	var v any
	if e, ok := b.c.idx.byID[id]; ok {
		v = e
	} else if np, ok := b.c.npByID[id]; ok {
		v = np
	}
	var out IPSet
	switch v := v.(type) {
	case *exprEntry:
		out = IPSet{ID: id, Kind: SetNets, Expr: v.x.key}
		if v.cached {
			out.Members = v.cache
			return out
		}
		defer func() { v.cache, v.cached = out.Members, true }()
		for m := range v.members {
			for _, a := range m.addrs {
				out.Members = append(out.Members, Member{Prefix: a})
			}
		}
	case *npEntry:
		out = IPSet{ID: id, Kind: SetNamedPort, Expr: v.key}
		if v.cached {
			out.Members = v.cache
			return out
		}
		defer func() { v.cache, v.cached = out.Members, true }()
		for m := range v.base.members {
			for _, p := range m.ports {
				if p.Name != v.name || p.Proto != v.proto {
					continue
				}
				for _, a := range m.addrs {
					out.Members = append(out.Members, Member{Prefix: netipHost(a), Proto: p.Proto, Port: p.Port})
				}
			}
		}
	}
	slices.SortFunc(out.Members, compareMember)
	out.Members = slices.Compact(out.Members)
	return out
}

func clonePolicy(p Policy) Policy {
	p.Ingress = slices.Clone(p.Ingress)
	p.Egress = slices.Clone(p.Egress)
	return p
}
