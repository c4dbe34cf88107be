package policy

import (
	"maps"
	"slices"

	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/selector"
)

// Options configures a Calculator.
type Options struct {
	// Node is the node whose endpoints are enforcement points; "" makes every endpoint local
	// (offline trace and matrix).
	Node string
	// Staged calculates the staged view: what enforcing every staged policy would do. A
	// staged policy with stagedAction Set (or none) is enforced in place of the enforced
	// policy of the same name (NetworkPolicy for StagedNetworkPolicy, and so on), one with
	// Delete removes that policy; Learn and Ignore change nothing. Flow logs report the
	// staged view's decisions as pending.
	Staged bool
}

// compiledPolicy is a policy with its selection and rules compiled.
type compiledPolicy struct {
	in             *PolicyInput
	sel            *exprEntry // nil for policies that select nothing (staged ones, see enforced)
	ingress        bool
	egress         bool
	out            Policy
	refs           refs
	brokenSelector bool
}

// compiledProfile is a user profile with its rules compiled.
type compiledProfile struct {
	in   *ProfileInput
	out  Profile
	refs refs
}

// Calculator computes a node's State incrementally. Update and Delete take inputs in any
// order; State after any sequence equals the State of a fresh Calculator fed only the final
// inputs. Changes reports what moved since the previous call. Not safe for concurrent use.
type Calculator struct {
	opts Options

	tiers      map[string]*Tier
	policies   map[PolicyID]*compiledPolicy
	profiles   map[string]*compiledProfile
	namespaces map[string]*Namespace
	sas        map[string]*ServiceAccount
	endpoints  map[string]*EndpointInput
	netsets    map[string]*NetworkSet
	config     *Config

	nsLabels map[string]map[string]string // pcns.* labels per namespace
	saLabels map[string]map[string]string // pcsa.* labels per "ns/sa"

	byNS      map[string]map[string]struct{} // member keys per namespace
	bySA      map[string]map[string]struct{} // member keys per "ns/sa"
	byProfile map[string]map[string]struct{} // endpoint keys per user profile

	idx      *labelIndex
	nps      map[string]*npEntry
	npByID   map[string]*npEntry
	local    map[string]struct{} // keys of local endpoints
	npByBase map[*exprEntry]map[*npEntry]struct{}
	selUsers map[*exprEntry]map[*compiledPolicy]struct{}

	dirtyEP  map[string]struct{}
	dirtySet map[string]struct{}
	allDirty bool

	svc *svcIndex // EndpointSlices and service sets (service.go); nil until used
}

// NewCalculator returns an empty calculator.
func NewCalculator(opts Options) *Calculator {
	c := &Calculator{
		opts:       opts,
		tiers:      map[string]*Tier{},
		policies:   map[PolicyID]*compiledPolicy{},
		profiles:   map[string]*compiledProfile{},
		namespaces: map[string]*Namespace{},
		sas:        map[string]*ServiceAccount{},
		endpoints:  map[string]*EndpointInput{},
		netsets:    map[string]*NetworkSet{},
		nsLabels:   map[string]map[string]string{},
		saLabels:   map[string]map[string]string{},
		byNS:       map[string]map[string]struct{}{},
		bySA:       map[string]map[string]struct{}{},
		byProfile:  map[string]map[string]struct{}{},
		nps:        map[string]*npEntry{},
		npByID:     map[string]*npEntry{},
		local:      map[string]struct{}{},
		npByBase:   map[*exprEntry]map[*npEntry]struct{}{},
		selUsers:   map[*exprEntry]map[*compiledPolicy]struct{}{},
		dirtyEP:    map[string]struct{}{},
		dirtySet:   map[string]struct{}{},
	}
	c.idx = newLabelIndex(c.membershipChanged)
	return c
}

// Compute is the from-scratch calculation: a fresh Calculator fed every resource.
func Compute(opts Options, rs []Resource) *State {
	c := NewCalculator(opts)
	for _, r := range rs {
		c.Update(r)
	}
	return c.State()
}

func (c *Calculator) membershipChanged(e *exprEntry, m *member, _ bool) {
	c.setChanged(e)
	if m.ep != nil && len(c.selUsers[e]) > 0 && c.isLocal(m.ep) {
		c.dirtyEP[m.key] = struct{}{}
	}
}

func (c *Calculator) isLocal(ep *EndpointInput) bool {
	return c.opts.Node == "" || ep.Node == c.opts.Node
}

// Update adds or replaces one input.
func (c *Calculator) Update(r Resource) {
	switch r := r.(type) {
	case *Tier:
		c.tiers[r.Name] = r
		c.allDirty = true
	case *PolicyInput:
		c.updatePolicy(r)
	case *ProfileInput:
		c.updateProfile(r)
	case *Namespace:
		c.namespaces[r.Name] = r
		c.setNamespaceLabels(r.Name, prefixLabels(model.PrefixNamespaceLabel, r.Labels, r.Name))
		c.markProfileUsers(model.PrefixProfileNamespace + r.Name)
	case *ServiceAccount:
		k := r.Namespace + "/" + r.Name
		c.sas[k] = r
		c.saLabels[k] = prefixLabels(model.PrefixServiceAccountLabel, r.Labels, r.Name)
		c.refreshMembers(c.bySA[k])
	case *EndpointInput:
		c.updateEndpoint(r)
	case *NetworkSet:
		key := netsetKey(r.Namespace, r.Name)
		c.netsets[key] = r
		c.refreshMember(key)
		c.markMemberSets(key)
	case *Config:
		c.config = r
		c.allDirty = true
	case *ServiceSlice:
		c.updateServiceSlice(r)
	}
}

// Delete removes one input; unknown keys are ignored.
func (c *Calculator) Delete(k Key) {
	switch k.Kind {
	case KeyTier:
		delete(c.tiers, k.Name)
		c.allDirty = true
	case KeyPolicy:
		id := PolicyID{Kind: PolicyKind(k.Sub), Namespace: k.Namespace, Name: k.Name}
		if p, ok := c.policies[id]; ok {
			c.dropPolicy(p)
			delete(c.policies, id)
			c.restage(p.in)
		}
	case KeyProfile:
		if p, ok := c.profiles[k.Name]; ok {
			c.release(&p.refs)
			delete(c.profiles, k.Name)
			c.refreshMembers(c.byProfile[k.Name])
			c.markProfileUsers(k.Name)
		}
	case KeyNamespace:
		delete(c.namespaces, k.Name)
		c.setNamespaceLabels(k.Name, nil)
		c.markProfileUsers(model.PrefixProfileNamespace + k.Name)
	case KeyServiceAccount:
		sk := k.Namespace + "/" + k.Name
		delete(c.sas, sk)
		delete(c.saLabels, sk)
		c.refreshMembers(c.bySA[sk])
	case KeyEndpoint:
		key := endpointKey(EndpointKind(k.Sub), k.Name)
		if ep, ok := c.endpoints[key]; ok {
			c.unlinkEndpoint(key, ep)
			delete(c.endpoints, key)
			delete(c.local, key)
			if c.isLocal(ep) {
				c.dirtyEP[key] = struct{}{}
			}
			c.idx.remove(key)
		}
	case KeyNetworkSet:
		key := netsetKey(k.Namespace, k.Name)
		if ns, ok := c.netsets[key]; ok {
			removeFrom(c.byNS, ns.Namespace, key)
			delete(c.netsets, key)
			c.idx.remove(key)
		}
	case KeyConfig:
		c.config = nil
		c.allDirty = true
	case KeyServiceSlice:
		c.deleteServiceSlice(k.Namespace, k.Name)
	}
}

func endpointKey(kind EndpointKind, name string) string {
	if kind == KindHost {
		return "h/" + name
	}
	return "w/" + name
}

func netsetKey(ns, name string) string {
	if ns == "" {
		return "g/" + name
	}
	return "n/" + ns + "/" + name
}

func prefixLabels(prefix string, labels map[string]string, name string) map[string]string {
	out := make(map[string]string, len(labels)+1)
	for k, v := range labels {
		out[prefix+k] = v
	}
	out[prefix+model.LabelName] = name
	return out
}

func (c *Calculator) updateEndpoint(ep *EndpointInput) {
	key := endpointKey(ep.Kind, ep.Name)
	moved := true
	if old, ok := c.endpoints[key]; ok {
		moved = !slices.Equal(old.Addrs, ep.Addrs) || !slices.Equal(old.Ports, ep.Ports)
		c.unlinkEndpoint(key, old)
		if c.isLocal(old) {
			c.dirtyEP[key] = struct{}{}
		}
	}
	c.endpoints[key] = ep
	if c.isLocal(ep) {
		c.local[key] = struct{}{}
	} else {
		delete(c.local, key)
	}
	if ep.Namespace != "" {
		addTo(c.byNS, ep.Namespace, key)
	}
	if ep.ServiceAccount != "" {
		addTo(c.bySA, ep.Namespace+"/"+ep.ServiceAccount, key)
	}
	for _, p := range ep.Profiles {
		addTo(c.byProfile, p, key)
	}
	if c.isLocal(ep) {
		c.dirtyEP[key] = struct{}{}
	}
	c.refreshMember(key)
	if moved {
		c.markMemberSets(key)
	}
}

// markMemberSets marks every set containing the member as changed (its addresses or ports
// may differ even when its memberships do not).
func (c *Calculator) markMemberSets(key string) {
	m, ok := c.idx.members[key]
	if !ok {
		return
	}
	for e := range m.in {
		c.setChanged(e)
	}
}

// setChanged records that e's members (and so its named-port sets) changed: the delta lists
// them and their cached member lists are dropped.
func (c *Calculator) setChanged(e *exprEntry) {
	c.dirtySet[e.id] = struct{}{}
	e.cache, e.cached = nil, false
	for np := range c.npByBase[e] {
		c.dirtySet[np.id] = struct{}{}
		np.cache, np.cached = nil, false
	}
}

func (c *Calculator) unlinkEndpoint(key string, ep *EndpointInput) {
	if ep.Namespace != "" {
		removeFrom(c.byNS, ep.Namespace, key)
	}
	if ep.ServiceAccount != "" {
		removeFrom(c.bySA, ep.Namespace+"/"+ep.ServiceAccount, key)
	}
	for _, p := range ep.Profiles {
		removeFrom(c.byProfile, p, key)
	}
}

func (c *Calculator) refreshMembers(keys map[string]struct{}) {
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		c.refreshMember(k)
	}
}

// setNamespaceLabels replaces a namespace's pcns.* labels (nil: the namespace is gone)
// and updates its members: the namespace-pure ones through the index's namespace path
// (nsindex.go), the others by recomputing their identity.
func (c *Calculator) setNamespaceLabels(ns string, now map[string]string) {
	old := c.nsLabels[ns]
	if now == nil {
		delete(c.nsLabels, ns)
	} else {
		c.nsLabels[ns] = now
	}
	changed := changedKeys(old, now)
	if len(changed) == 0 {
		return
	}
	var pure []*member
	for _, k := range slices.Sorted(maps.Keys(c.byNS[ns])) {
		if m := c.idx.members[k]; m != nil && m.id.nsPure && m.id.namespace == ns {
			pure = append(pure, m)
		} else {
			c.refreshMember(k)
		}
	}
	// Endpoints of other namespaces may name this namespace's profile too.
	for _, k := range slices.Sorted(maps.Keys(c.byProfile[model.PrefixProfileNamespace+ns])) {
		if _, done := c.byNS[ns][k]; !done {
			c.refreshMember(k)
		}
	}
	c.idx.relabelNamespace(old, now, changed, pure)
}

// refreshMember recomputes a member's identity and re-indexes it.
func (c *Calculator) refreshMember(key string) {
	if ep, ok := c.endpoints[key]; ok {
		c.idx.upsert(key, c.endpointIdentity(ep), ep.Addrs, ep.Ports, ep)
		return
	}
	if ns, ok := c.netsets[key]; ok {
		if ns.Namespace != "" {
			addTo(c.byNS, ns.Namespace, key)
		}
		id := identity{namespace: ns.Namespace}
		if ns.Namespace != "" {
			id.labels = labelsOf(map[string]string{model.LabelNamespace: ns.Namespace}, ns.Labels, c.nsLabels[ns.Namespace])
			id.nsPure = !hasPrefixedKey(ns.Labels, model.PrefixNamespaceLabel)
		} else {
			id.labels = labelsOf(ns.Labels)
		}
		id.node = ns.Node
		c.idx.upsert(key, id, ns.Nets, nil, nil)
	}
}

func (c *Calculator) endpointIdentity(ep *EndpointInput) identity {
	layers := make([]map[string]string, 0, 2+len(ep.Profiles))
	builtin := map[string]string{}
	if ep.Kind == KindWorkload {
		if ep.Namespace != "" {
			builtin[model.LabelNamespace] = ep.Namespace
		}
		orch := ep.Orchestrator
		if orch == "" {
			orch = model.OrchestratorK8s
		}
		builtin[model.LabelOrchestrator] = orch
		if ep.ServiceAccount != "" {
			builtin[model.LabelServiceAccount] = ep.ServiceAccount
		}
	}
	layers = append(layers, builtin, ep.Labels)
	ns := ""
	if ep.Kind == KindWorkload {
		ns = ep.Namespace
	}
	// Namespace-pure: the pcns.* labels come from the namespace's own profile alone.
	pure, sawNS := ns != "" && !hasPrefixedKey(ep.Labels, model.PrefixNamespaceLabel), false
	for _, p := range ep.Profiles {
		l := c.profileLabels(p)
		layers = append(layers, l)
		if _, user := c.profiles[p]; !user && p == model.PrefixProfileNamespace+ns {
			sawNS = true
		} else if pure && hasPrefixedKey(l, model.PrefixNamespaceLabel) {
			pure = false
		}
	}
	return identity{labels: labelsOf(layers...), namespace: ns, sa: ep.ServiceAccount, nsPure: pure && sawNS}
}

// profileLabels gives the labels a profile passes on: pcns.* for kns.<ns>, pcsa.* for
// ksa.<ns>.<sa>, labelsToApply for a user profile.
func (c *Calculator) profileLabels(name string) map[string]string {
	if p, ok := c.profiles[name]; ok {
		return p.in.LabelsToApply
	}
	if ns, ok := cutPrefix(name, model.PrefixProfileNamespace); ok {
		return c.nsLabels[ns]
	}
	if rest, ok := cutPrefix(name, model.PrefixProfileServiceAccount); ok {
		for i := 0; i < len(rest); i++ {
			if rest[i] == '.' {
				if l, ok := c.saLabels[rest[:i]+"/"+rest[i+1:]]; ok {
					return l
				}
			}
		}
	}
	return nil
}

func cutPrefix(s, p string) (string, bool) {
	if len(s) > len(p) && s[:len(p)] == p {
		return s[len(p):], true
	}
	return "", false
}

func (c *Calculator) markProfileUsers(name string) {
	for k := range c.byProfile[name] {
		if ep, ok := c.endpoints[k]; ok && c.isLocal(ep) {
			c.dirtyEP[k] = struct{}{}
		}
	}
}

func (c *Calculator) updateProfile(p *ProfileInput) {
	if old, ok := c.profiles[p.Name]; ok {
		c.release(&old.refs)
	}
	cp := &compiledProfile{in: p}
	comp := compiler{c: c, refs: &cp.refs}
	cp.out = Profile{Name: p.Name, Ingress: comp.rules(p.Ingress, ""), Egress: comp.rules(p.Egress, "")}
	c.profiles[p.Name] = cp
	c.refreshMembers(c.byProfile[p.Name])
	c.markProfileUsers(p.Name)
}

func (c *Calculator) updatePolicy(in *PolicyInput) {
	// The new version acquires its expressions before the old one releases them, so an
	// expression both use is kept, not dropped and evaluated again over every member.
	if old, ok := c.policies[in.ID]; ok {
		defer c.dropPolicy(old)
	}
	p := &compiledPolicy{in: in}
	p.ingress, p.egress = effectiveTypes(in)
	if in.PreDNAT {
		p.egress = false
	}
	comp := compiler{c: c, refs: &p.refs}
	if c.enforced(in) {
		spec := exprSpec{sel: in.Selector, namespace: in.ID.Namespace, saSel: in.ServiceAccountSelector}
		if in.NamespaceSelector != "" {
			spec.nsSel, spec.hasNsSel = in.NamespaceSelector, true
		}
		e, err := comp.expr(spec)
		if err != nil {
			// Fail closed: a policy whose selector cannot be read selects everything in its
			// scope and, with its rules dropped, denies at the end of its tier.
			p.brokenSelector = true
			e, _ = comp.expr(exprSpec{namespace: in.ID.Namespace})
		}
		p.sel = e
	}
	tier := in.Tier
	if tier == "" {
		tier = "default"
	}
	p.out = Policy{ID: in.ID, Tier: tier}
	if !p.brokenSelector {
		p.out.Ingress = withOrigins(comp.rules(in.Ingress, in.ID.Namespace), in.IngressOrigins)
		p.out.Egress = withOrigins(comp.rules(in.Egress, in.ID.Namespace), in.EgressOrigins)
	}
	c.policies[in.ID] = p
	if p.sel != nil {
		addTo(c.selUsers, p.sel, p)
		c.markSelected(p.sel)
	}
	c.restage(in)
}

// enforced reports whether a policy selects endpoints: an enforced policy does unless the
// staged view replaces or deletes it, a staged one only in the staged view and when its
// action is Set.
func (c *Calculator) enforced(in *PolicyInput) bool {
	if !c.opts.Staged {
		return !in.Staged
	}
	if in.Staged {
		return in.StagedAction == "" || in.StagedAction == model.StagedActionSet
	}
	if id, ok := stagedTwin(in.ID); ok {
		if st, ok := c.policies[id]; ok && stagedReplaces(st.in) {
			return false
		}
	}
	return true
}

func stagedReplaces(in *PolicyInput) bool {
	switch in.StagedAction {
	case "", model.StagedActionSet, model.StagedActionDelete:
		return true
	}
	return false
}

// restage recompiles, in the staged view, the enforced policy a staged one (just
// updated or deleted) stands for, so that the view depends only on the inputs present,
// whatever order they came in.
func (c *Calculator) restage(in *PolicyInput) {
	if !c.opts.Staged || !in.Staged {
		return
	}
	if id, ok := enforcedTwin(in.ID); ok {
		if p, ok := c.policies[id]; ok {
			c.updatePolicy(p.in)
		}
	}
}

// stagedTwin is the staged policy kind standing for an enforced policy, enforcedTwin the
// reverse (same namespace and name).
func stagedTwin(id PolicyID) (PolicyID, bool) { return twin(id, false) }

func enforcedTwin(id PolicyID) (PolicyID, bool) { return twin(id, true) }

func twin(id PolicyID, fromStaged bool) (PolicyID, bool) {
	for e, s := range twinKinds {
		from, to := e, s
		if fromStaged {
			from, to = s, e
		}
		if id.Kind == from {
			id.Kind = to
			return id, true
		}
	}
	return id, false
}

var twinKinds = map[PolicyKind]PolicyKind{
	PolicyNamespaced: PolicyStaged,
	PolicyGlobal:     PolicyStagedGlobal,
	PolicyKubernetes: PolicyStagedKubernetes,
}

// withOrigins gives each rule its source rule's index and name, when origins are given.
func withOrigins(rules []Rule, origins []RuleOrigin) []Rule {
	if len(origins) != len(rules) {
		return rules
	}
	for i := range rules {
		rules[i].Index, rules[i].Name = origins[i].Index, origins[i].Name
	}
	return rules
}

func (c *Calculator) dropPolicy(p *compiledPolicy) {
	if p.sel != nil {
		c.markSelected(p.sel)
		removeFrom(c.selUsers, p.sel, p)
	}
	c.release(&p.refs)
}

func (c *Calculator) markSelected(e *exprEntry) {
	for m := range e.members {
		if m.ep != nil && c.isLocal(m.ep) {
			c.dirtyEP[m.key] = struct{}{}
		}
	}
}

// Delta lists what changed since the previous call to Changes.
type Delta struct {
	// All is true when a global input (tier, config) changed: every endpoint may differ.
	All bool
	// Endpoints are the local endpoints ("workload/ns/pod", "host/name") whose chains or
	// referenced policies may have changed, sorted.
	Endpoints []string
	// IPSets are the sets whose membership may have changed, sorted.
	IPSets []string
}

// Changes returns and clears the accumulated delta.
func (c *Calculator) Changes() Delta {
	d := Delta{All: c.allDirty}
	for k := range c.dirtyEP {
		if k[0] == 'h' {
			d.Endpoints = append(d.Endpoints, string(KindHost)+"/"+k[2:])
		} else {
			d.Endpoints = append(d.Endpoints, string(KindWorkload)+"/"+k[2:])
		}
	}
	d.IPSets = slices.Collect(maps.Keys(c.dirtySet))
	slices.Sort(d.Endpoints)
	slices.Sort(d.IPSets)
	c.dirtyEP = map[string]struct{}{}
	c.dirtySet = map[string]struct{}{}
	c.allDirty = false
	return d
}

// kinds of chain built for an endpoint.
type chainKind uint8

const (
	chainNormal chainKind = iota
	chainForward
	chainUntracked
	chainPreDNAT
)

func (p *compiledPolicy) applies(kind EndpointKind, ck chainKind, ingress bool) bool {
	if (ingress && !p.ingress) || (!ingress && !p.egress) {
		return false
	}
	in := p.in
	if kind == KindWorkload {
		return ck == chainNormal && !in.DoNotTrack && !in.PreDNAT
	}
	switch ck {
	case chainNormal:
		return !in.DoNotTrack && !in.PreDNAT
	case chainForward:
		return in.ApplyOnForward && !in.DoNotTrack && !in.PreDNAT
	case chainUntracked:
		return in.DoNotTrack
	case chainPreDNAT:
		return in.PreDNAT && ingress
	}
	return false
}

// selecting returns the enforced policies whose selection contains m.
func (c *Calculator) selecting(m *member) []*compiledPolicy {
	var out []*compiledPolicy
	for e := range m.in {
		for p := range c.selUsers[e] {
			out = append(out, p)
		}
	}
	return out
}

var _ selector.Labels = prefixed{}
