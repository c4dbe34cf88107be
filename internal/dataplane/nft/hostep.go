package nft

import (
	"fmt"
	"net/netip"

	"sigs.k8s.io/knftables"

	"github.com/trellisnet/trellis/internal/policy"
)

// hostStage is one place where host endpoint policy is enforced: a base chain on a hook,
// dispatching through a verdict map keyed by interface name to per-endpoint chains.
type hostStage struct {
	chain    string // base chain name; the map is chain+"-if"
	hook     knftables.BaseChainHook
	priority knftables.BaseChainPriority
	ifname   string // "iifname" or "oifname"
	ctx      chainCtx
	dir      direction
	tracked  bool // conntrack is available (not at raw priority)
	pick     func(*policy.Endpoint) *policy.Chain
}

var hostStages = []hostStage{
	{"host-raw-in", knftables.PreroutingHook, knftables.RawPriority, "iifname",
		chainCtx{stage: "untracked", untracked: true, failsafe: true}, dirTo, false,
		func(e *policy.Endpoint) *policy.Chain { return e.UntrackedIngress }},
	{"host-raw-out", knftables.OutputHook, knftables.RawPriority, "oifname",
		chainCtx{stage: "untracked", untracked: true, failsafe: true}, dirFrom, false,
		func(e *policy.Endpoint) *policy.Chain { return e.UntrackedEgress }},
	{"host-prednat", knftables.PreroutingHook, knftables.DNATPriority + " - 10", "iifname",
		chainCtx{stage: "prednat", failsafe: true}, dirTo, true,
		func(e *policy.Endpoint) *policy.Chain { return e.PreDNATIngress }},
	{"host-in", knftables.InputHook, knftables.FilterPriority + " + 5", "iifname",
		chainCtx{stage: "normal", failsafe: true}, dirTo, true,
		func(e *policy.Endpoint) *policy.Chain { return &e.Ingress }},
	{"host-out", knftables.OutputHook, knftables.FilterPriority + " + 5", "oifname",
		chainCtx{stage: "normal", failsafe: true}, dirFrom, true,
		func(e *policy.Endpoint) *policy.Chain { return &e.Egress }},
	{"host-fwd-in", knftables.ForwardHook, knftables.FilterPriority + " + 20", "iifname",
		chainCtx{stage: "forward"}, dirTo, true,
		func(e *policy.Endpoint) *policy.Chain { return e.ForwardIngress }},
	{"host-fwd-out", knftables.ForwardHook, knftables.FilterPriority + " + 30", "oifname",
		chainCtx{stage: "forward"}, dirFrom, true,
		func(e *policy.Endpoint) *policy.Chain { return e.ForwardEgress }},
}

// hostEndpoints renders every stage that some host endpoint has a chain for. Traffic on
// workload interfaces and loopback is left to the workload chains; an interface that is
// no host endpoint is not policed (as in Calico, unless a "*" endpoint exists).
func (r *renderer) hostEndpoints() {
	for _, hs := range hostStages {
		var eps []*policy.Endpoint
		for i := range r.st.Endpoints {
			ep := &r.st.Endpoints[i]
			if ep.Kind == policy.KindHost && ep.Interface != "" && hs.pick(ep) != nil {
				eps = append(eps, ep)
			}
		}
		if len(eps) == 0 {
			continue
		}
		m := &Set{Name: hs.chain + "-if", Map: true, Type: "ifname : verdict"}
		r.t.Sets[m.Name] = m
		var rules []Rule
		if hs.tracked {
			rules = append(rules, Rule{Text: "ct state established,related accept"})
		}
		rules = append(rules,
			Rule{Text: hs.ifname + " " + quote(r.cfg.IfPrefix+"*") + " return"},
			Rule{Text: hs.ifname + ` "lo" return`},
			Rule{Text: hs.ifname + " vmap @" + m.Name},
		)
		for _, ep := range eps {
			name := r.endpointChain(hs.ctx, hs.dir, ep, hs.pick(ep))
			if ep.Interface == "*" {
				rules = append(rules, Rule{Text: "jump " + name, Comment: trimComment("host endpoint " + ep.Name)})
				continue
			}
			m.AddElement([]string{quote(ep.Interface)}, []string{"jump " + name})
		}
		r.t.Chains[hs.chain] = &Chain{Name: hs.chain, Rules: rules,
			Hook: &Hook{Type: knftables.FilterType, Hook: hs.hook, Priority: hs.priority}}
	}
}

// failsafe renders the failsafe accept rules that come first in host endpoint chains:
// inbound ports for ingress (from Net when set), outbound ports for egress (to Net).
func (r *renderer) failsafe(dir direction) []Rule {
	ports, addr := r.st.Failsafe.Outbound, "daddr"
	if dir.ingres {
		ports, addr = r.st.Failsafe.Inbound, "saddr"
	}
	var out []Rule
	for _, pp := range ports {
		text := fmt.Sprintf("meta l4proto %s th dport %d", protoName(pp.Proto), pp.Port)
		if pp.Net != "" {
			p, err := netip.ParsePrefix(pp.Net)
			if err != nil {
				continue // an unparsable net opens nothing
			}
			ip := "ip"
			if famOf(p.Addr()) == 6 {
				ip = "ip6"
			}
			text = fmt.Sprintf("%s %s %s %s", text, ip, addr, prefixString(p.Masked()))
		}
		out = append(out, Rule{Text: text + " counter accept", Comment: trimComment(fmt.Sprintf("failsafe %s %s:%d", dir.label, pp.Proto, pp.Port))})
	}
	return out
}
