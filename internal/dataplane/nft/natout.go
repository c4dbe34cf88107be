package nft

import (
	"fmt"
	"net/netip"

	"sigs.k8s.io/knftables"
)

// Fixed names of the nat-outgoing objects; every one starts with "natout-", which no
// policy or service object does.
const (
	ChainNATOutgoing = "natout-postrouting"
	// SetNATOutgoingSrc4 (6) hold the CIDRs of the IPPools with natOutgoing.
	SetNATOutgoingSrc4 = "natout-src4"
	SetNATOutgoingSrc6 = "natout-src6"
	// SetNATOutgoingPools4 (6) hold the CIDRs of every IPPool (disabled ones and those
	// without natOutgoing included): destinations there are never masqueraded.
	SetNATOutgoingPools4 = "natout-pools4"
	SetNATOutgoingPools6 = "natout-pools6"
)

// natOutgoingPriority puts the nat-outgoing chain after the service proxy's postrouting
// chain (srcnat). Both masquerade; the kernel consults a hook's nat chains only until one
// has translated the connection, so a connection both would match (rare: a service
// masquerade needs a hairpin or a packet from a non-workload interface) is masqueraded
// and counted once, by the service rule; the distinct priority fixes that order.
const natOutgoingPriority = knftables.SNATPriority + " + 10"

// NATOutgoing is what the nat-outgoing rules need to know of the IPPools.
type NATOutgoing struct {
	// Masquerade are the CIDRs of the pools with natOutgoing.
	Masquerade []netip.Prefix
	// Pools are the CIDRs of every pool, whatever its natOutgoing or disabled state.
	Pools []netip.Prefix
}

// RenderNATOutgoing renders IPPool natOutgoing (Calico's semantics) as a table of its own
// (merge it into the policy table with Table.Merge before applying). Pure and
// deterministic. A new connection from an address in a natOutgoing pool to one outside
// every pool is masqueraded (source NAT to the address of the interface it leaves by)
// when it leaves the node through anything but a workload interface; pod-to-pod traffic
// on the node is not. Packets to the node itself never reach postrouting, so its own
// addresses need no exception. Per family, the chain's rule and the two interval sets it
// reads exist only when some pool of that family has natOutgoing; with none at all the
// table is empty. The sets change only when the pools do.
func RenderNATOutgoing(cfg Config, n NATOutgoing) *Table {
	cfg = cfg.withDefaults()
	t := NewTable()
	var rules []Rule
	for _, fam := range []int{4, 6} {
		masq := normalizePrefixes(n.Masquerade, fam)
		if len(masq) == 0 {
			continue
		}
		srcName, poolsName, match := SetNATOutgoingSrc4, SetNATOutgoingPools4, "ip"
		if fam == 6 {
			srcName, poolsName, match = SetNATOutgoingSrc6, SetNATOutgoingPools6, "ip6"
		}
		src := &Set{Name: srcName, Type: addrType(fam), Interval: true}
		for _, p := range masq {
			src.AddElement([]string{prefixString(p)}, nil)
		}
		pools := &Set{Name: poolsName, Type: addrType(fam), Interval: true}
		for _, p := range normalizePrefixes(append(append([]netip.Prefix(nil), n.Pools...), n.Masquerade...), fam) {
			pools.AddElement([]string{prefixString(p)}, nil)
		}
		t.Sets[srcName], t.Sets[poolsName] = src, pools
		rules = append(rules, Rule{
			Text: fmt.Sprintf("%[1]s saddr @%[2]s %[1]s daddr != @%[3]s oifname != %[4]s counter masquerade",
				match, srcName, poolsName, quote(cfg.IfPrefix+"*")),
			Comment: fmt.Sprintf("nat outgoing ipv%d", fam),
		})
	}
	if len(rules) > 0 {
		t.Chains[ChainNATOutgoing] = &Chain{Name: ChainNATOutgoing, Rules: rules,
			Hook: &Hook{Type: knftables.NATType, Hook: knftables.PostroutingHook, Priority: natOutgoingPriority}}
	}
	return t
}
