package nft

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/netip"

	"github.com/trellisnet/trellis/internal/policy"
)

// Incremental rendering.
//
// A Renderer keeps the chains and sets it rendered last time, keyed by their name and a
// fingerprint (SHA-256) of the inputs they were rendered from, and hands the very same
// objects out again when those inputs did not change. A one-policy change therefore
// re-renders that policy's chain and the chains of the endpoints naming it, not the
// table; and because unchanged objects are the same pointers as in the table applied
// last, PlanPartial skips them without comparing their rules or elements.
//
// What an object depends on:
//   - a selector or named-port set: its IPSet's members (the key includes kind, id and
//     family);
//   - a policy or profile chain: the policy's (profile's) content and the answers setFor
//     gave while rendering it (the name of each set it consulted, or "" for an empty
//     one); rendering is deterministic, so the same content and the same answers to the
//     same questions give the same rules. The answers are recorded with the entry and
//     asked again on a lookup;
//   - a merged set: the run's policies and the members of the sets their rules name;
//   - an endpoint chain: the endpoint's policy.Chain, the content of every policy it
//     names and the members of every set those policies' rules name (they decide which
//     runs are merged), which of its profiles exist, and the failsafe ports where they
//     apply. The policy and profile chains and merged sets its rendering declared are
//     recorded with the entry and declared again on a hit.
//
// Objects handed out are never modified afterwards (the table and the Applier share
// them). Entries not used by a render are dropped after it, so the cache holds one
// table's worth of objects.

// Renderer renders successive desired states, reusing the objects of unchanged inputs.
// Its output equals Render's for the same Config and state, but for the flow IDs of
// egress allows when flow logging is on: they are kept from render to render while
// chains use them (flowlog.go). Not safe for concurrent use.
type Renderer struct {
	cfg   Config
	cache *renderCache
	ids   *flowIDs
}

// NewRenderer returns a Renderer with an empty cache.
func NewRenderer(cfg Config) *Renderer {
	cfg = cfg.withDefaults()
	return &Renderer{cfg: cfg, cache: newRenderCache(nil), ids: newFlowIDs(cfg.FlowMarkMask)}
}

// Render is Render(cfg, st) reusing the objects of the previous call where their
// inputs are unchanged.
func (rr *Renderer) Render(st *policy.State) *Table {
	r := newRenderer(rr.cfg, st)
	r.cache, r.ids = rr.cache, rr.ids
	t := r.render()
	rr.cache = newRenderCache(rr.cache)
	rr.ids.sweep()
	return t
}

// renderCache holds the objects of the render in progress (next) and of the previous
// one (old); a lookup that hits old moves the entry to next.
type renderCache struct {
	old, next cacheGen
}

type cacheGen struct {
	sets      map[string]*Set
	chains    map[string]chainEntry
	prefixes  map[string][]netip.Prefix
	endpoints map[string]endpointEntry
}

// endpointEntry is a cached endpoint chain, what rendering it declared and the
// prefixes whose flow IDs its rules hold.
type endpointEntry struct {
	chain *Chain
	decls []endpointDecl
	flows []string
}

// endpointDecl is one object an endpoint chain's rules use: a policy chain (policy
// set), a profile chain (profile set), a merged set (mergeKey set) or a guarded run's
// chain or set (guardKey set).
type endpointDecl struct {
	dir       direction
	policy    policy.PolicyID
	untracked bool
	profile   string
	fam       int
	mergeKey  string
	guardKey  string // a guarded run: its chain (fam 0) or set (fam 4, 6)
	tier      string
	run       []policy.PolicyID
}

type chainEntry struct {
	chain *Chain
	refs  []setRef
	flows []string // prefixes whose flow IDs its rules hold
}

// setRef is one setFor question and its answer.
type setRef struct {
	id        string
	fam       int
	namedPort bool
	name      string
}

func newCacheGen() cacheGen {
	return cacheGen{sets: map[string]*Set{}, chains: map[string]chainEntry{}, prefixes: map[string][]netip.Prefix{},
		endpoints: map[string]endpointEntry{}}
}

// newRenderCache starts a generation after prev's render (nil: an empty cache).
func newRenderCache(prev *renderCache) *renderCache {
	c := &renderCache{old: newCacheGen(), next: newCacheGen()}
	if prev != nil {
		c.old = prev.next
	}
	return c
}

func lookup[V any](old, next map[string]V, key string) (V, bool) {
	if v, ok := next[key]; ok {
		return v, true
	}
	v, ok := old[key]
	if ok {
		next[key] = v
	}
	return v, ok
}

// cachedChain returns the chain name rendered by render, reusing the cached one under
// key when the sets it consulted give the same answers.
func (r *renderer) cachedChain(key, name string, render func() []Rule) *Chain {
	if r.cache == nil {
		return &Chain{Name: name, Rules: render()}
	}
	if e, ok := lookup(r.cache.old.chains, r.cache.next.chains, key); ok && r.sameAnswers(e.refs) {
		r.keepFlowIDs(e.flows)
		return e.chain
	}
	saved, savedFlows := r.refs, r.flowRefs
	var refs []setRef
	var flows []string
	r.refs, r.flowRefs = &refs, &flows
	c := &Chain{Name: name, Rules: render()}
	r.refs, r.flowRefs = saved, savedFlows
	r.cache.next.chains[key] = chainEntry{chain: c, refs: refs, flows: flows}
	return c
}

// sameAnswers asks the recorded setFor questions again (declaring the sets, as the
// rendering would) and reports whether every answer is unchanged. It stops at the first
// difference, so it asks only questions a new rendering asks too.
func (r *renderer) sameAnswers(refs []setRef) bool {
	for _, ref := range refs {
		if r.setFor(ref.id, ref.fam, ref.namedPort) != ref.name {
			return false
		}
	}
	return true
}

// ruleOwnerFP fingerprints a policy or profile's content.
func (r *renderer) ruleOwnerFP(kind, name string, v any) string {
	key := kind + "|" + name
	if fp, ok := r.fps[key]; ok {
		return fp
	}
	b, err := json.Marshal(v)
	if err != nil {
		// Not reachable for the plain data in policy; an unfingerprintable owner is
		// never reused.
		b = []byte(err.Error())
		key = ""
	}
	sum := sha256.Sum256(b)
	fp := string(sum[:])
	if key != "" {
		r.fps[key] = fp
	}
	return fp
}

// ipsetFP fingerprints an IP set's members ("" for an unknown set).
func (r *renderer) ipsetFP(id string) string {
	key := "ipset|" + id
	if fp, ok := r.fps[key]; ok {
		return fp
	}
	fp := ""
	if st, ok := r.st.IPSet(id); ok {
		h := sha256.New()
		h.Write([]byte(st.Kind))
		buf := make([]byte, 0, 64)
		for _, m := range st.Members {
			buf = buf[:0]
			a := m.Prefix.Addr().As16()
			buf = append(buf, 0, byte(m.Prefix.Bits()+1))
			if m.Prefix.Addr().Is4() {
				buf = append(buf, 4)
			}
			buf = append(buf, a[:]...)
			buf = binary.BigEndian.AppendUint16(buf, m.Port)
			buf = append(buf, m.Proto...)
			h.Write(buf)
		}
		fp = string(h.Sum(nil))
	}
	r.fps[key] = fp
	return fp
}

// setPrefixes returns the normalized family-fam prefixes of IP set id's members.
func (r *renderer) setPrefixes(id string, fam int) []netip.Prefix {
	key := string(rune('0'+fam)) + "|" + id
	if ps, ok := r.prefixes[key]; ok {
		return ps
	}
	var ckey string
	if r.cache != nil {
		ckey = key + "|" + r.ipsetFP(id)
		if ps, ok := lookup(r.cache.old.prefixes, r.cache.next.prefixes, ckey); ok {
			r.prefixes[key] = ps
			return ps
		}
	}
	var ps []netip.Prefix
	if st, ok := r.st.IPSet(id); ok {
		for _, m := range st.Members {
			ps = append(ps, m.Prefix)
		}
		ps = normalizePrefixes(ps, fam)
	}
	r.prefixes[key] = ps
	if r.cache != nil {
		r.cache.next.prefixes[ckey] = ps
	}
	return ps
}

// cachedEndpointChain returns endpoint chain name, reusing the cached one when its
// inputs are unchanged: the endpoint's policy.Chain, the content of every policy it
// names, the members of every set those policies' rules name (merging decisions depend
// on them), which profiles exist, and the failsafe ports where they apply. A reused
// chain's declarations (policy and profile chains, merged sets) are replayed, so the
// table gets the same objects a fresh rendering would declare.
func (r *renderer) cachedEndpointChain(name string, ctx chainCtx, dir direction, c *policy.Chain) *Chain {
	key := r.endpointKey(name, ctx, dir, c)
	if key == "" {
		return &Chain{Name: name, Rules: r.endpointRules(ctx, dir, c)}
	}
	if e, ok := lookup(r.cache.old.endpoints, r.cache.next.endpoints, key); ok {
		for _, d := range e.decls {
			r.declare(d)
		}
		r.keepFlowIDs(e.flows)
		return e.chain
	}
	saved, savedFlows := r.decls, r.flowRefs
	var decls []endpointDecl
	var flows []string
	r.decls, r.flowRefs = &decls, &flows
	ch := &Chain{Name: name, Rules: r.endpointRules(ctx, dir, c)}
	r.decls, r.flowRefs = saved, savedFlows
	r.cache.next.endpoints[key] = endpointEntry{chain: ch, decls: decls, flows: flows}
	return ch
}

// keepFlowIDs notes that a reused chain's flow IDs are still in use (the chain's own
// entry holds them: a chain rendering it records nothing).
func (r *renderer) keepFlowIDs(prefixes []string) {
	for _, p := range prefixes {
		r.ids.live[p] = true
	}
}

// record notes a declaration of the endpoint chain being rendered.
func (r *renderer) record(d endpointDecl) {
	if r.decls != nil {
		*r.decls = append(*r.decls, d)
	}
}

// declare replays one recorded declaration.
func (r *renderer) declare(d endpointDecl) {
	switch {
	case d.guardKey != "" && d.fam == 0:
		r.guardChain(d.dir, d.untracked, d.tier, d.guardKey, d.run)
	case d.guardKey != "":
		r.guardSet(d.dir, d.fam, d.guardKey, d.run)
	case d.mergeKey != "":
		r.mergedSet(d.dir, d.fam, d.mergeKey, d.run)
	case d.profile != "":
		r.profileChain(d.dir, d.profile)
	default:
		r.policyChain(d.dir, d.policy, d.untracked)
	}
}

// endpointKey is the cache key of an endpoint chain (see cachedEndpointChain).
func (r *renderer) endpointKey(name string, ctx chainCtx, dir direction, c *policy.Chain) string {
	h := sha256.New()
	write := func(parts ...string) {
		for _, p := range parts {
			h.Write([]byte(p))
			h.Write([]byte{0})
		}
	}
	chainJSON, err := json.Marshal(c)
	if err != nil {
		return "" // not reachable for plain data; an empty key is never stored
	}
	write(name, ctx.stage, fmt.Sprint(ctx.untracked, ctx.failsafe), dir.short, string(chainJSON))
	if ctx.failsafe {
		fs, _ := json.Marshal(r.st.Failsafe)
		write(string(fs))
	}
	for _, tier := range c.Tiers {
		for _, id := range tier.Policies {
			p, ok := r.st.Policy(id)
			if !ok {
				write("missing")
				continue
			}
			write(r.ruleOwnerFP("policy", id.String(), p))
			rules := dirRules(p.Ingress, p.Egress, dir)
			for _, rule := range rules {
				for _, m := range []*policy.Match{&rule.Source, &rule.Destination} {
					for _, ids := range [][]string{m.IPSets, m.NotIPSets, m.NamedPortSets, m.NotNamedPortSets} {
						for _, set := range ids {
							write(set, r.ipsetFP(set))
						}
					}
				}
			}
		}
	}
	for _, prof := range c.Profiles {
		_, ok := r.st.Profile(prof)
		write(prof, fmt.Sprint(ok))
	}
	return name + "|" + string(h.Sum(nil))
}
