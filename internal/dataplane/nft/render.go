package nft

import (
	"fmt"
	"math/bits"
	"net/netip"
	"slices"
	"strings"

	"sigs.k8s.io/knftables"

	"github.com/trellisnet/trellis/internal/policy"
)

// Config tunes rendering.
type Config struct {
	// IfPrefix is the workload interface name prefix; an interface with it that is not
	// a known endpoint is dropped. Default "trl".
	IfPrefix string
	// PassMark is the packet mark bit used to implement Pass. Default 0x00100000.
	PassMark uint32
	// LogPrefix starts the log prefix of Log rules without their own prefix; the policy
	// and rule are appended. Default "trellis".
	LogPrefix string
	// MergeRun is the shortest run of consecutive allow-only policies in a tier that is
	// merged into one set lookup (see merge.go), and of policies whose rules all name
	// their peers' addresses that is guarded by one (guard.go); 0 means the default 8,
	// negative never. Merged policies share one counter instead of one per rule.
	MergeRun int
	// FlowLogGroup, when not 0, is the NFLOG group every verdict of a tracked connection
	// is logged to (flowlog.go).
	FlowLogGroup uint16
	// FlowMarkMask are the packet mark bits that carry an egress allow's flow ID to the
	// next flow-log statement (flowlog.go); DefaultFlowMarkMask when 0 and the default
	// PassMark. CheckFlowMarkMask says which masks are usable.
	FlowMarkMask uint32
}

// DefaultFlowMarkMask is the bits of 0xffff0000 (the range Calico's dataplane owns;
// kube-proxy's 0x4000 and 0x8000 are below it) that neither the default PassMark nor
// ServiceExternalMark use: 14 bits, 16,383 flow IDs.
const DefaultFlowMarkMask uint32 = 0xffff0000 &^ 0x00100000 &^ ServiceExternalMark

// ReservedMarks are the mark bits of the default PassMark and of ServiceExternalMark.
const ReservedMarks uint32 = 0x00100000 | ServiceExternalMark

// CheckFlowMarkMask reports whether mask can carry flow IDs: at least 4 bits (15 IDs),
// none of ReservedMarks.
func CheckFlowMarkMask(mask uint32) error {
	if mask&ReservedMarks != 0 {
		return fmt.Errorf("it uses bits 0x%08x, which Trellis's pass and service marks use", mask&ReservedMarks)
	}
	if bits.OnesCount32(mask) < 4 {
		return fmt.Errorf("it has %d bits, want at least 4 (15 flow IDs)", bits.OnesCount32(mask))
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.IfPrefix == "" {
		c.IfPrefix = "trl"
	}
	if c.PassMark == 0 {
		c.PassMark = 0x00100000
	}
	if c.LogPrefix == "" {
		c.LogPrefix = "trellis"
	}
	if c.MergeRun == 0 {
		c.MergeRun = 8
	}
	if c.FlowMarkMask == 0 {
		c.FlowMarkMask = DefaultFlowMarkMask &^ c.PassMark
	}
	return c
}

type direction struct {
	short  string // "to" or "fr"
	label  string // "ingress" or "egress"
	ingres bool
}

var (
	dirTo   = direction{short: "to", label: "ingress", ingres: true}
	dirFrom = direction{short: "fr", label: "egress"}
)

type renderer struct {
	cfg Config
	st  *policy.State
	t   *Table
	// setNames caches setFor results by kind|id|family.
	setNames map[string]string
	// fps caches input fingerprints, prefixes normalized set members (cache.go).
	fps      map[string]string
	prefixes map[string][]netip.Prefix
	// mergeable memoizes mergeablePolicy by direction and policy ID, chainNames policy
	// chain names.
	mergeable  map[string]bool
	guards     map[string]*Set // guard sets by family and run
	chainNames map[string]string
	// cache is the Renderer's cache across renders (nil for Render); refs, when set,
	// records setFor questions and answers (cache.go).
	cache *renderCache
	refs  *[]setRef
	// decls, when set, records what the endpoint chain being rendered declared
	// (cache.go, endpointDecl).
	decls *[]endpointDecl
	// ids allocates flow IDs (flowlog.go); flowRefs, when set, records the prefixes whose
	// IDs the chain being rendered uses.
	ids      *flowIDs
	flowRefs *[]string
}

func newRenderer(cfg Config, st *policy.State) *renderer {
	cfg = cfg.withDefaults()
	return &renderer{cfg: cfg, st: st, ids: newFlowIDs(cfg.FlowMarkMask), t: NewTable(), setNames: map[string]string{},
		fps: map[string]string{}, prefixes: map[string][]netip.Prefix{}, mergeable: map[string]bool{}, guards: map[string]*Set{}, chainNames: map[string]string{}}
}

// Render turns a node's desired policy state into the complete content of the owned
// table. It is pure and deterministic. A Renderer gives the same result faster when
// states are rendered one after another.
func Render(cfg Config, st *policy.State) *Table {
	return newRenderer(cfg, st).render()
}

func (r *renderer) render() *Table {
	st := r.st
	r.baseChains()
	from := &Set{Name: MapFromWorkload, Map: true, Type: "ifname : verdict"}
	to := &Set{Name: MapToWorkload, Map: true, Type: "ifname : verdict"}
	r.t.Sets[from.Name], r.t.Sets[to.Name] = from, to
	for i := range st.Endpoints {
		ep := &st.Endpoints[i]
		if ep.Kind != policy.KindWorkload || ep.Interface == "" {
			continue
		}
		key := []string{quote(ep.Interface)}
		to.AddElement(key, []string{"jump " + r.endpointChain(workloadCtx, dirTo, ep, &ep.Ingress)})
		from.AddElement(key, []string{"jump " + r.endpointChain(workloadCtx, dirFrom, ep, &ep.Egress)})
	}
	r.hostEndpoints()
	r.flowMarkChains()
	return r.t
}

func (r *renderer) baseChains() {
	wild := quote(r.cfg.IfPrefix + "*")
	conntrack := []Rule{
		{Text: "ct state established,related accept"},
	}
	invalid := Rule{Text: "ct state invalid counter drop", Comment: "conntrack invalid"}
	mk := func(name string, hook knftables.BaseChainHook, prio knftables.BaseChainPriority, ifname, vmap string) {
		rules := append([]Rule{}, conntrack...)
		rules = append(rules,
			Rule{Text: ifname + " != " + wild + " return"},
			invalid,
			Rule{Text: ifname + " vmap @" + vmap},
			Rule{Text: ifname + " " + wild + " counter drop", Comment: "unknown workload interface"},
		)
		r.t.Chains[name] = &Chain{Name: name, Hook: &Hook{Type: knftables.FilterType, Hook: hook, Priority: prio}, Rules: rules}
	}
	mk(ChainForwardFrom, knftables.ForwardHook, knftables.FilterPriority, "iifname", MapFromWorkload)
	mk(ChainForwardTo, knftables.ForwardHook, knftables.FilterPriority+" + 10", "oifname", MapToWorkload)
	mk(ChainInput, knftables.InputHook, knftables.FilterPriority, "iifname", MapFromWorkload)
}

// chainCtx is where an endpoint chain is used: workload chains, or one of the host
// endpoint stages.
type chainCtx struct {
	stage     string // "" for workloads; "normal", "prednat", "untracked", "forward"
	untracked bool   // allow means notrack + accept
	failsafe  bool   // failsafe ports are accepted first
}

var workloadCtx = chainCtx{}

// endpointChain renders an endpoint's chain for one direction and returns its name.
func (r *renderer) endpointChain(ctx chainCtx, dir direction, ep *policy.Endpoint, c *policy.Chain) string {
	name := endpointChain(dir, ep.Name)
	if ctx.stage != "" {
		name = hostChain(ctx.stage, dir, ep.Name)
	}
	if r.t.Chains[name] != nil {
		return name
	}
	if r.cache == nil {
		r.t.Chains[name] = &Chain{Name: name, Rules: r.endpointRules(ctx, dir, c)}
		return name
	}
	r.t.Chains[name] = r.cachedEndpointChain(name, ctx, dir, c)
	return name
}

// endpointRules renders the rules of an endpoint's chain for one direction, declaring
// the policy and profile chains and merged sets they use.
func (r *renderer) endpointRules(ctx chainCtx, dir direction, c *policy.Chain) []Rule {
	pass := fmt.Sprintf("0x%08x", r.cfg.PassMark)
	clear := Rule{Text: fmt.Sprintf("meta mark set meta mark & 0x%08x", ^r.cfg.PassMark)}
	var rules []Rule
	if ctx.stage != "" && !dir.ingres && !ctx.untracked && r.cfg.FlowLogGroup != 0 {
		// A host endpoint's egress allow would overwrite the flow ID of a workload's
		// egress allow the packet passed before: log that one first.
		rules = append(rules, r.flowMarkRule())
	}
	if ctx.failsafe {
		rules = append(rules, r.failsafe(dir)...)
	}
	for _, tier := range c.Tiers {
		rules = append(rules, clear)
		for i := 0; i < len(tier.Policies); {
			n, merge := r.mergeableRun(dir, ctx, tier.Policies[i:])
			if merge {
				rules = append(rules, r.mergedRules(dir, tier.Name, tier.Policies[i:i+n], pass)...)
				i += n
				continue
			}
			g := r.guardableRun(dir, tier.Policies[i:])
			if g >= r.cfg.MergeRun && g > 0 {
				rules = append(rules, r.guardRules(ctx, dir, tier.Name, tier.Policies[i:i+g], pass)...)
				i += g
				continue
			}
			// A run that is neither merged nor guarded is not in part either: its
			// suffixes are shorter, and checking each would make long runs quadratic.
			for end := i + max(n, g, 1); i < end; i++ {
				rules = append(rules, r.policyJump(ctx, dir, tier.Name, tier.Policies[i], pass))
			}
		}
		if tier.End != policy.ActionPass {
			log := r.flowLog(dir, ctx.untracked, policy.ActionDeny, endOfTierKey(tier))
			rules = append(rules, Rule{Text: withLog("meta mark & "+pass+" == 0x00000000 counter", log, "drop"), Comment: trimComment(dir.label + " end of tier " + tier.Name)})
		}
	}
	if len(c.Tiers) > 0 {
		rules = append(rules, clear)
	}
	for _, prof := range c.Profiles {
		if _, ok := r.st.Profile(prof); !ok {
			continue // a missing profile allows nothing
		}
		r.record(endpointDecl{dir: dir, profile: prof})
		rules = append(rules, Rule{Text: "jump " + r.profileChain(dir, prof), Comment: trimComment(dir.label + " profile " + prof)})
	}
	switch c.Final {
	case policy.ActionAllow:
		rules = append(rules, Rule{Text: withLog("counter", r.flowLog(dir, ctx.untracked, policy.ActionAllow, finalKey), "accept"), Comment: dir.label + " final allow"})
	case policy.ActionNone:
	default:
		rules = append(rules, Rule{Text: withLog("counter", r.flowLog(dir, ctx.untracked, policy.ActionDeny, finalKey), "drop"), Comment: dir.label + " final deny"})
	}
	return rules
}

// policyJump is the endpoint chain's rule for one policy of a tier.
func (r *renderer) policyJump(ctx chainCtx, dir direction, tier string, id policy.PolicyID, pass string) Rule {
	cmt := trimComment(fmt.Sprintf("%s tier %s policy %s", dir.label, tier, id.Short()))
	if _, ok := r.st.Policy(id); !ok {
		// A missing reference fails closed.
		return Rule{Text: "meta mark & " + pass + " == 0x00000000 counter drop", Comment: cmt + " (missing)"}
	}
	r.record(endpointDecl{dir: dir, policy: id, untracked: ctx.untracked})
	return Rule{Text: "meta mark & " + pass + " == 0x00000000 jump " + r.policyChain(dir, id, ctx.untracked), Comment: cmt}
}

func (r *renderer) policyChain(dir direction, id policy.PolicyID, untracked bool) string {
	memo := dir.short + "|" + id.String()
	if untracked {
		memo = "u" + memo
	}
	name, ok := r.chainNames[memo]
	if !ok {
		name = policyChain(dir, id.String(), untracked)
		r.chainNames[memo] = name
	}
	if r.t.Chains[name] == nil {
		p, _ := r.st.Policy(id)
		rules := dirRules(p.Ingress, p.Egress, dir)
		key := ""
		if r.cache != nil {
			key = name + "|" + r.ruleOwnerFP("policy", id.String(), p)
		}
		r.t.Chains[name] = r.cachedChain(key, name, func() []Rule {
			return r.rules(dir, "policy "+id.Short(), "policy|"+id.String(), rules, untracked)
		})
	}
	return name
}

func (r *renderer) profileChain(dir direction, prof string) string {
	name := profileChain(dir, prof)
	if r.t.Chains[name] == nil {
		p, _ := r.st.Profile(prof)
		rules := dirRules(p.Ingress, p.Egress, dir)
		key := ""
		if r.cache != nil {
			key = name + "|" + r.ruleOwnerFP("profile", prof, p)
		}
		r.t.Chains[name] = r.cachedChain(key, name, func() []Rule { return r.rules(dir, "profile "+prof, "profile|"+prof, rules, false) })
	}
	return name
}

// rules renders a policy's or profile's rules of one direction; owner labels them, key
// names the owner in flow-log prefixes.
func (r *renderer) rules(dir direction, owner, key string, rules []policy.Rule, untracked bool) []Rule {
	var out []Rule
	for _, rule := range rules {
		label := fmt.Sprintf("%s %s[%d]", owner, dir.label, rule.Index)
		log := r.flowLog(dir, untracked, rule.Action, policyRuleKey(key, rule.Index))
		for _, text := range r.ruleTexts(rule, label, log, untracked) {
			out = append(out, Rule{Text: text, Comment: trimComment(label)})
		}
	}
	return out
}

// setFor declares the nft set holding family fam's members of the state's IP set id
// (an address set, or a named-port set when namedPort is set) and returns its name, or
// "" when that family has no members (an unknown id is empty: its selector matches
// nothing). Rules then leave out what cannot match instead of referencing empty sets,
// which keeps the number of sets, and nft's per-set costs, down. Address sets whose
// members are all single addresses are hash sets, others interval sets; the two kinds
// have different names, so a change of kind is a new set.
func (r *renderer) setFor(id string, fam int, namedPort bool) string {
	key := fmt.Sprintf("%v|%s|%d", namedPort, id, fam)
	name, ok := r.setNames[key]
	if !ok {
		name = r.declareSet(key, id, fam, namedPort)
		r.setNames[key] = name
	}
	if r.refs != nil {
		*r.refs = append(*r.refs, setRef{id: id, fam: fam, namedPort: namedPort, name: name})
	}
	return name
}

// declareSet builds (or takes from the cache) the set setFor describes, declares it in
// the table when it has elements and returns its name, or "".
func (r *renderer) declareSet(key, id string, fam int, namedPort bool) string {
	st, _ := r.st.IPSet(id)
	if st == nil {
		return ""
	}
	var s *Set
	ckey := ""
	if r.cache != nil {
		ckey = key + "|" + r.ipsetFP(id)
		s, _ = lookup(r.cache.old.sets, r.cache.next.sets, ckey)
	}
	if s == nil {
		s = r.buildSet(st, id, fam, namedPort)
		if r.cache != nil {
			r.cache.next.sets[ckey] = s
		}
	}
	if len(s.Elements) == 0 {
		return ""
	}
	r.t.Sets[s.Name] = s
	return s.Name
}

func (r *renderer) buildSet(st *policy.IPSet, id string, fam int, namedPort bool) *Set {
	if namedPort {
		s := &Set{Name: namedPortSetName(fam, id), Type: addrType(fam) + " . inet_proto . inet_service"}
		for _, m := range st.Members {
			if famOf(m.Prefix.Addr()) == fam && m.Proto != "" {
				s.AddElement([]string{m.Prefix.Addr().Unmap().String(), protoName(m.Proto), fmt.Sprint(m.Port)}, nil)
			}
		}
		return s
	}
	ps := r.setPrefixes(id, fam)
	interval := false
	for _, p := range ps {
		interval = interval || !p.IsSingleIP()
	}
	s := &Set{Name: addrSetName(fam, id, interval), Type: addrType(fam), Interval: interval}
	for _, p := range ps {
		s.AddElement([]string{prefixString(p)}, nil)
	}
	return s
}

func addrType(fam int) string {
	if fam == 4 {
		return "ipv4_addr"
	}
	return "ipv6_addr"
}

func famOf(a netip.Addr) int {
	if a.Unmap().Is4() {
		return 4
	}
	return 6
}

// prefixString prints a host prefix as a bare address (as nft lists it).
func prefixString(p netip.Prefix) string {
	if p.IsSingleIP() {
		return p.Addr().String()
	}
	return p.String()
}

// normalizePrefixes keeps the prefixes of family fam, masked, without duplicates and
// without prefixes covered by others, sorted: nft rejects overlapping intervals, and a
// canonical list makes element deltas exact.
func normalizePrefixes(ps []netip.Prefix, fam int) []netip.Prefix {
	var in []netip.Prefix
	for _, p := range ps {
		if famOf(p.Addr()) == fam {
			in = append(in, netip.PrefixFrom(p.Addr().Unmap(), min(p.Bits(), p.Addr().Unmap().BitLen())).Masked())
		}
	}
	sortPrefixes(in)
	var out []netip.Prefix
	for _, p := range in {
		if len(out) > 0 && out[len(out)-1].Bits() <= p.Bits() && out[len(out)-1].Contains(p.Addr()) {
			continue
		}
		out = append(out, p)
	}
	return out
}

func sortPrefixes(ps []netip.Prefix) {
	slices.SortFunc(ps, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	})
}

func quote(s string) string { return `"` + s + `"` }

func trimComment(s string) string {
	s = strings.ReplaceAll(s, `"`, "'")
	if len(s) > knftables.CommentLengthMax {
		s = s[:knftables.CommentLengthMax]
	}
	return s
}
