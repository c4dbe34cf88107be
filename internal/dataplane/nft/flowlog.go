package nft

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"

	"sigs.k8s.io/knftables"

	"github.com/trellisnet/trellis/internal/policy"
)

// Flow logging (Config.FlowLogGroup): every rule that gives a verdict to a tracked
// connection also reports it to NFLOG group FlowLogGroup, under a 12-character prefix
// naming the rule: the direction ("t" to the endpoint: ingress, "f" from it: egress),
// the action ("a" allow, "d" deny) and 10 hex digits of a hash of what decided (a policy
// or profile rule, the end of a tier with the tier's last policy, a merged run of a
// tier, or the chain's final verdict). Established packets are accepted before any
// policy, so an allowed connection is reported once, by its first packet; a denied one
// by each packet it tries. Untracked (doNotTrack) chains report nothing: without
// conntrack every packet would be a first one. FlowRules gives the dictionary of every
// prefix a state's table can use.
//
// One message per connection and node. The kernel's cost of flow logging is the NFLOG
// message (measured: a reader that discards every message costs as much as the whole
// collector), and a connection between two pods of one node passes two verdicts. So an
// egress allow is not logged where it is decided: it writes a small number naming its
// prefix (a flow ID, from an allocator the Renderer keeps) into the packet mark's flow
// bits (Config.FlowMarkMask), and the next flow-log statement the packet meets, usually
// the destination's ingress verdict, carries it in its message (NFULA_MARK) and clears
// it. A packet that meets none (to a remote node, or to the host) is logged by the one
// rule of a late base chain on its hook, under FlowMarkPrefix. FlowMarks decodes a mark.
// When the IDs run out, an egress allow is logged where it is decided.

// Flow rule kinds.
const (
	FlowPolicy    = "policy"      // a policy's rule
	FlowProfile   = "profile"     // a profile's rule
	FlowEndOfTier = "end of tier" // nothing in the tier decided: its last policy is named
	FlowMerged    = "merged"      // a merged run of allow-only policies of the tier
	FlowFinal     = "final"       // the chain's final verdict (no policy, no profile decided)
)

// FlowRule is what a flow-log prefix stands for.
type FlowRule struct {
	Ingress bool
	Action  policy.Action
	Kind    string
	Tier    string
	// Policy is the policy of a policy rule, or a tier's last policy (end of tier).
	Policy   policy.PolicyID
	Profile  string
	Rule     int // the rule's index; -1 when no rule decided
	RuleName string
}

// flowPrefix is the NFLOG prefix of a verdict of dir and action decided by key.
func flowPrefix(dir direction, action policy.Action, key string) string {
	var buf [256]byte
	return flowPrefixOf(dir, action, append(buf[:0], key...))
}

// flowPrefixOf is flowPrefix of a key given as bytes.
func flowPrefixOf(dir direction, action policy.Action, key []byte) string {
	var b [12]byte
	b[0], b[1] = dir.short[0], 'd'
	if action == policy.ActionAllow {
		b[1] = 'a'
	}
	sum := sha256.Sum256(key)
	hex.Encode(b[2:], sum[:5])
	return string(b[:])
}

// FlowMarkPrefix is the prefix of the late rules that log a packet whose mark still
// names an egress allow when it leaves the table's hooks.
const FlowMarkPrefix = "fm"

// flowLog is the flow-log statement of a verdict (placed before it), or "" when flow
// logging is off, the chain is untracked or action is no verdict: an egress allow's flow
// ID written into the mark, or a log statement that clears the mark's flow bits after
// the message took them.
func (r *renderer) flowLog(dir direction, untracked bool, action policy.Action, key string) string {
	if r.cfg.FlowLogGroup == 0 || untracked || (action != policy.ActionAllow && action != policy.ActionDeny) {
		return ""
	}
	prefix := flowPrefix(dir, action, key)
	if !dir.ingres && action == policy.ActionAllow {
		if id := r.ids.id(prefix); id != 0 {
			r.useFlowID(prefix)
			bits := deposit(id, r.cfg.FlowMarkMask)
			return fmt.Sprintf("meta mark set meta mark & 0x%08x | 0x%08x", ^r.cfg.FlowMarkMask|bits, bits)
		}
	}
	return fmt.Sprintf("log prefix %q group %d meta mark set meta mark & 0x%08x", prefix, r.cfg.FlowLogGroup, ^r.cfg.FlowMarkMask)
}

// flowMarkChains declares the late base chains that log what the mark still names: after
// the forward hook's workload and host endpoint chains, and after the input and output
// hooks' host endpoint chains.
func (r *renderer) flowMarkChains() {
	if r.cfg.FlowLogGroup == 0 {
		return
	}
	rule := r.flowMarkRule()
	for _, c := range []struct {
		name string
		hook knftables.BaseChainHook
		prio knftables.BaseChainPriority
	}{
		{ChainFlowForward, knftables.ForwardHook, knftables.FilterPriority + " + 40"},
		{ChainFlowInput, knftables.InputHook, knftables.FilterPriority + " + 10"},
		{ChainFlowOutput, knftables.OutputHook, knftables.FilterPriority + " + 10"},
	} {
		r.t.Chains[c.name] = &Chain{Name: c.name, Hook: &Hook{Type: knftables.FilterType, Hook: c.hook, Priority: c.prio}, Rules: []Rule{rule}}
	}
}

// flowMarkRule logs (under FlowMarkPrefix) and clears the flow ID a packet's mark still
// holds.
func (r *renderer) flowMarkRule() Rule {
	return Rule{Text: fmt.Sprintf("meta mark & 0x%08x != 0x00000000 log prefix %q group %d meta mark set meta mark & 0x%08x",
		r.cfg.FlowMarkMask, FlowMarkPrefix, r.cfg.FlowLogGroup, ^r.cfg.FlowMarkMask), Comment: "egress allow not logged yet"}
}

// deposit spreads the low bits of v over the set bits of mask, lowest first.
func deposit(v, mask uint32) uint32 {
	var out uint32
	for bit := uint32(1); mask != 0 && v != 0; bit <<= 1 {
		if mask&bit == 0 {
			continue
		}
		if v&1 != 0 {
			out |= bit
		}
		v >>= 1
		mask &^= bit
	}
	return out
}

// extract gathers the bits of x under mask into the low bits, lowest first (deposit's
// inverse).
func extract(x, mask uint32) uint32 {
	var out, n uint32
	for bit := uint32(1); mask != 0; bit <<= 1 {
		if mask&bit == 0 {
			continue
		}
		if x&bit != 0 {
			out |= 1 << n
		}
		n++
		mask &^= bit
	}
	return out
}

// flowIDs allocates flow IDs to egress-allow prefixes. An ID stays with its prefix while
// any chain of the table uses it: a Renderer's cached chains record the prefixes whose
// IDs they hold, and a render frees the IDs nothing used. Freed IDs are reused last
// (first in, first out), so a message logged just before a change still decodes to the
// rule it named.
type flowIDs struct {
	max     uint32 // the largest ID the mask holds
	byKey   map[string]uint32
	byID    map[uint32]string
	free    []uint32
	next    uint32 // the lowest ID never handed out
	live    map[string]bool
	version uint64 // counts changes of byID
	snap    *flowMarksSnap
}

type flowMarksSnap struct {
	FlowMarks
	version uint64
}

func newFlowIDs(mask uint32) *flowIDs {
	return &flowIDs{max: extract(mask, mask), byKey: map[string]uint32{}, byID: map[uint32]string{}, next: 1, live: map[string]bool{}}
}

// id returns prefix's ID, allocating one; 0 when none is left.
func (a *flowIDs) id(prefix string) uint32 {
	if id, ok := a.byKey[prefix]; ok {
		return id
	}
	var id uint32
	switch {
	case len(a.free) > 0:
		id, a.free = a.free[0], a.free[1:]
	case a.next <= a.max:
		id = a.next
		a.next++
	default:
		return 0
	}
	a.byKey[prefix], a.byID[id] = id, prefix
	a.version++
	return id
}

// sweep frees the IDs of prefixes no chain used since the last sweep.
func (a *flowIDs) sweep() {
	for prefix, id := range a.byKey {
		if !a.live[prefix] {
			delete(a.byKey, prefix)
			delete(a.byID, id)
			a.free = append(a.free, id)
			a.version++
		}
	}
	a.live = map[string]bool{}
}

// useFlowID notes that the table being rendered uses prefix's ID, and so does the
// cached chain being rendered.
func (r *renderer) useFlowID(prefix string) {
	r.ids.live[prefix] = true
	if r.flowRefs != nil {
		*r.flowRefs = append(*r.flowRefs, prefix)
	}
}

// FlowMarks decodes the flow bits of a logged packet's mark.
type FlowMarks struct {
	Mask uint32
	// IDs maps a flow ID to the prefix (in FlowRules) of the egress allow it stands for.
	IDs map[uint32]string
}

// Prefix is the egress allow the mark names, if any.
func (m FlowMarks) Prefix(mark uint32) (string, bool) {
	if m.Mask == 0 || mark&m.Mask == 0 {
		return "", false
	}
	p, ok := m.IDs[extract(mark, m.Mask)]
	return p, ok
}

// Mark is the mark whose flow bits hold id.
func (m FlowMarks) Mark(id uint32) uint32 { return deposit(id, m.Mask) }

// FlowMarks returns the flow IDs the last rendered table uses. Do not modify the result;
// it is shared until the IDs change.
func (rr *Renderer) FlowMarks() FlowMarks {
	a := rr.ids
	if rr.cfg.FlowLogGroup == 0 || a == nil {
		return FlowMarks{}
	}
	if a.snap == nil || a.snap.version != a.version {
		ids := make(map[uint32]string, len(a.byID))
		for id, p := range a.byID {
			ids[id] = p
		}
		a.snap = &flowMarksSnap{FlowMarks: FlowMarks{Mask: rr.cfg.FlowMarkMask, IDs: ids}, version: a.version}
	}
	return a.snap.FlowMarks
}

func policyRuleKey(owner string, index int) string {
	return string(appendPolicyRuleKey(nil, owner, index))
}

// appendPolicyRuleKey appends policyRuleKey's bytes to b (FlowRules builds keys in place).
func appendPolicyRuleKey(b []byte, owner string, index int) []byte {
	return strconv.AppendInt(append(append(append(b, "rule|"...), owner...), '|'), int64(index), 10)
}

func endOfTierKey(tier policy.TierChain) string {
	last := ""
	if n := len(tier.Policies); n > 0 {
		last = tier.Policies[n-1].String()
	}
	return "eot|" + tier.Name + "|" + last
}

func mergedRunKey(tier string) string { return "merged|" + tier }

const finalKey = "final"

// withLog inserts a log statement (when not "") before a rule's final verdict word.
func withLog(text, log, verdict string) string {
	if log == "" {
		return text + " " + verdict
	}
	return text + " " + log + " " + verdict
}

// FlowRules returns the dictionary of the flow-log prefixes a table rendered from st can
// use (a superset: chains that log nothing are listed too).
func FlowRules(st *policy.State) map[string]FlowRule {
	out := make(map[string]FlowRule, 2*(len(st.Policies)+len(st.Profiles))+4)
	add := func(dir direction, action policy.Action, key string, fr FlowRule) {
		fr.Ingress, fr.Action = dir.ingres, action
		out[flowPrefix(dir, action, key)] = fr
	}
	var key []byte // reused for every rule's key
	rules := func(owner string, in, eg []policy.Rule, fr FlowRule) {
		for _, d := range []struct {
			dir   direction
			rules []policy.Rule
		}{{dirTo, in}, {dirFrom, eg}} {
			for _, rule := range d.rules {
				if rule.Action != policy.ActionAllow && rule.Action != policy.ActionDeny {
					continue
				}
				fr.Rule, fr.RuleName = rule.Index, rule.Name
				fr.Ingress, fr.Action = d.dir.ingres, rule.Action
				key = appendPolicyRuleKey(key[:0], owner, rule.Index)
				out[flowPrefixOf(d.dir, rule.Action, key)] = fr
			}
		}
	}
	for _, p := range st.Policies {
		rules("policy|"+p.ID.String(), p.Ingress, p.Egress, FlowRule{Kind: FlowPolicy, Tier: p.Tier, Policy: p.ID})
	}
	for _, p := range st.Profiles {
		rules("profile|"+p.Name, p.Ingress, p.Egress, FlowRule{Kind: FlowProfile, Profile: p.Name})
	}
	tiers := map[tierEntry]bool{}
	for i := range st.Endpoints {
		ep := &st.Endpoints[i]
		for _, c := range []struct {
			dir   direction
			chain *policy.Chain
		}{{dirTo, &ep.Ingress}, {dirFrom, &ep.Egress}, {dirTo, ep.PreDNATIngress}, {dirTo, ep.ForwardIngress}, {dirFrom, ep.ForwardEgress}} {
			if c.chain == nil {
				continue
			}
			for _, tier := range c.chain.Tiers {
				fr := FlowRule{Kind: FlowEndOfTier, Tier: tier.Name, Rule: -1}
				if n := len(tier.Policies); n > 0 {
					fr.Policy = tier.Policies[n-1]
				}
				// Endpoints share tiers and last policies: each entry is hashed once.
				if k := (tierEntry{c.dir.ingres, tier.Name, fr.Policy}); !tiers[k] {
					tiers[k] = true
					add(c.dir, policy.ActionDeny, endOfTierKey(tier), fr)
					add(c.dir, policy.ActionAllow, mergedRunKey(tier.Name), FlowRule{Kind: FlowMerged, Tier: tier.Name, Rule: -1})
				}
			}
		}
	}
	if len(st.Endpoints) > 0 {
		for _, dir := range []direction{dirTo, dirFrom} {
			for _, a := range []policy.Action{policy.ActionAllow, policy.ActionDeny} {
				add(dir, a, finalKey, FlowRule{Kind: FlowFinal, Rule: -1})
			}
		}
	}
	return out
}

// tierEntry is a tier's end as FlowRules lists it: direction, tier and last policy.
type tierEntry struct {
	ingress bool
	tier    string
	last    policy.PolicyID
}
