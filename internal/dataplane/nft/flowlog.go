package nft

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/trellisnet/trellis/internal/policy"
)

// Flow logging (Config.FlowLogGroup): every rule that gives a verdict to a tracked
// connection also sends the packet to NFLOG group FlowLogGroup with a 12-character
// prefix naming the rule: the direction ("t" to the endpoint: ingress, "f" from it:
// egress), the action ("a" allow, "d" deny) and 10 hex digits of a hash of what decided
// (a policy or profile rule, the end of a tier with the tier's last policy, a merged run
// of a tier, or the chain's final verdict). Established packets are accepted before any
// policy, so an allowed connection is logged once, by its first packet; a denied one by
// each packet it tries. Untracked (doNotTrack) chains log nothing: without conntrack
// every packet would be a first one. FlowRules gives the dictionary of every prefix a
// state's table can use, computed from the state alone so that cached chains need no
// bookkeeping.

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
	a := "d"
	if action == policy.ActionAllow {
		a = "a"
	}
	sum := sha256.Sum256([]byte(key))
	return dir.short[:1] + a + hex.EncodeToString(sum[:5])
}

// flowLog is the log statement of a verdict (placed before it), or "" when flow logging
// is off, the chain is untracked or action is no verdict.
func (r *renderer) flowLog(dir direction, untracked bool, action policy.Action, key string) string {
	if r.cfg.FlowLogGroup == 0 || untracked || (action != policy.ActionAllow && action != policy.ActionDeny) {
		return ""
	}
	return fmt.Sprintf("log prefix %q group %d", flowPrefix(dir, action, key), r.cfg.FlowLogGroup)
}

func policyRuleKey(owner string, index int) string { return fmt.Sprintf("rule|%s|%d", owner, index) }

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
	out := map[string]FlowRule{}
	add := func(dir direction, action policy.Action, key string, fr FlowRule) {
		fr.Ingress, fr.Action = dir.ingres, action
		out[flowPrefix(dir, action, key)] = fr
	}
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
				add(d.dir, rule.Action, policyRuleKey(owner, rule.Index), fr)
			}
		}
	}
	for _, p := range st.Policies {
		rules("policy|"+p.ID.String(), p.Ingress, p.Egress, FlowRule{Kind: FlowPolicy, Tier: p.Tier, Policy: p.ID})
	}
	for _, p := range st.Profiles {
		rules("profile|"+p.Name, p.Ingress, p.Egress, FlowRule{Kind: FlowProfile, Profile: p.Name})
	}
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
				add(c.dir, policy.ActionDeny, endOfTierKey(tier), fr)
				add(c.dir, policy.ActionAllow, mergedRunKey(tier.Name), FlowRule{Kind: FlowMerged, Tier: tier.Name, Rule: -1})
			}
			for _, a := range []policy.Action{policy.ActionAllow, policy.ActionDeny} {
				add(c.dir, a, finalKey, FlowRule{Kind: FlowFinal, Rule: -1})
			}
		}
	}
	return out
}
