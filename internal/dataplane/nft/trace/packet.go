package trace

import (
	"fmt"
	"net/netip"
)

// Packet is the first packet of a flow, or a later one with CT set, as the hooks see it.
type Packet struct {
	// IIF is the interface it arrived on ("" when the host sends it); OIF is the one it
	// leaves through ("" when it is delivered to the host). Both set: forwarded.
	IIF, OIF string
	Src, Dst netip.Addr
	// Proto is the layer 4 protocol: tcp, udp, sctp, icmp, icmpv6 or a number.
	Proto string
	// SPort and DPort are the ports (protocols with ports).
	SPort, DPort uint16
	// ICMPType and ICMPCode are the ICMP (or ICMPv6) header fields.
	ICMPType, ICMPCode uint8
	// CT is the conntrack state the filter hooks see: new (default), established,
	// related, invalid or untracked.
	CT string
	// Mark is the packet mark when it reaches the first hook.
	Mark uint32

	dnatted bool // a dnat statement ran (ct status dnat)
}

func (p Packet) String() string {
	ports := fmt.Sprintf(" %d->%d", p.SPort, p.DPort)
	if !p.hasPorts() {
		ports = fmt.Sprintf(" type %d code %d", p.ICMPType, p.ICMPCode)
	}
	ct := p.CT
	if ct == "" {
		ct = "new"
	}
	return fmt.Sprintf("%s %s -> %s%s iif %q oif %q ct %s", p.Proto, p.Src, p.Dst, ports, p.IIF, p.OIF, ct)
}

// Reply is the packet answering p, given p's trace: addresses, ports and interfaces
// swapped, an ICMP echo request answered by an echo reply, and conntrack state
// established (new when p was not tracked: conntrack then sees the reply first).
// Reverse NAT is not modelled: the reply answers p as it was sent.
func Reply(p Packet, req Result) Packet {
	r := p
	r.IIF, r.OIF = p.OIF, p.IIF
	r.Src, r.Dst = p.Dst, p.Src
	r.SPort, r.DPort = p.DPort, p.SPort
	switch {
	case p.l4() == 1 && p.ICMPType == 8:
		r.ICMPType = 0
	case p.l4() == 58 && p.ICMPType == 128:
		r.ICMPType = 129
	}
	r.CT = "established"
	if req.Untracked {
		r.CT = "new"
	}
	r.Mark, r.dnatted = 0, false
	return r
}

func (p Packet) l4() uint64 {
	n, err := parseNum(typeProto, p.Proto)
	if err != nil {
		return 256 // never equal to a protocol number
	}
	return n
}

func (p Packet) hasPorts() bool {
	switch p.l4() {
	case 6, 17, 33, 132, 136:
		return true
	}
	return false
}

func (p Packet) validate() error {
	if !p.Src.IsValid() || !p.Dst.IsValid() || p.Src.Unmap().Is4() != p.Dst.Unmap().Is4() {
		return fmt.Errorf("packet %s: source and destination must be addresses of one family", p)
	}
	if p.l4() > 255 {
		return fmt.Errorf("packet %s: unknown protocol %q", p, p.Proto)
	}
	if p.IIF == "" && p.OIF == "" {
		return fmt.Errorf("packet %s: needs an input or an output interface", p)
	}
	if _, ok := typeCTState.names[p.ctState()]; !ok {
		return fmt.Errorf("packet %s: unknown conntrack state %q", p, p.CT)
	}
	return nil
}

func (p Packet) ctState() string {
	if p.CT == "" {
		return "new"
	}
	return p.CT
}

// selector reads one field of a packet. ok is false when the packet does not have the
// header the field belongs to (nft's implicit protocol dependency): the match then fails
// whatever its operator.
type selector struct {
	name string
	typ  *dataType
	get  func(p *Packet) (v value, ok bool, err error)
	mask *uint64
}

func (s selector) read(p *Packet) (value, bool, error) {
	v, ok, err := s.get(p)
	if s.mask != nil {
		v.num &= *s.mask
	}
	return v, ok, err
}

func addrField(fam int, src bool) func(p *Packet) (value, bool, error) {
	return func(p *Packet) (value, bool, error) {
		a := p.Dst.Unmap()
		if src {
			a = p.Src.Unmap()
		}
		if a.Is4() != (fam == 4) {
			return value{}, false, nil
		}
		return value{addr: a}, true, nil
	}
}

func portField(proto uint64, src bool) func(p *Packet) (value, bool, error) {
	return func(p *Packet) (value, bool, error) {
		if proto == 0 && !p.hasPorts() {
			// th reads the transport header's first bytes whatever it is: on ICMP
			// they are the type, code and checksum, which a tracer cannot know.
			return value{unknown: true}, true, nil
		}
		if proto != 0 && p.l4() != proto {
			return value{}, false, nil
		}
		if src {
			return value{num: uint64(p.SPort)}, true, nil
		}
		return value{num: uint64(p.DPort)}, true, nil
	}
}

func icmpField(fam int, code bool) func(p *Packet) (value, bool, error) {
	return func(p *Packet) (value, bool, error) {
		want := uint64(1)
		if fam == 6 {
			want = 58
		}
		if p.l4() != want || p.Src.Unmap().Is4() != (fam == 4) {
			return value{}, false, nil
		}
		if code {
			return value{num: uint64(p.ICMPCode)}, true, nil
		}
		return value{num: uint64(p.ICMPType)}, true, nil
	}
}

func l4Field(fam int) func(p *Packet) (value, bool, error) {
	return func(p *Packet) (value, bool, error) {
		if fam != 0 && p.Src.Unmap().Is4() != (fam == 4) {
			return value{}, false, nil
		}
		return value{num: p.l4()}, true, nil
	}
}

func always(f func(p *Packet) value) func(p *Packet) (value, bool, error) {
	return func(p *Packet) (value, bool, error) { return f(p), true, nil }
}

// selectors are the packet fields the tracer evaluates, by their nft spelling.
var selectors = map[string]selector{}

func init() {
	add := func(name string, t *dataType, get func(p *Packet) (value, bool, error)) {
		selectors[name] = selector{name: name, typ: t, get: get}
	}
	iif := always(func(p *Packet) value { return value{str: p.IIF} })
	oif := always(func(p *Packet) value { return value{str: p.OIF} })
	add("iifname", typeIfname, iif)
	add("meta iifname", typeIfname, iif)
	add("oifname", typeIfname, oif)
	add("meta oifname", typeIfname, oif)
	add("meta l4proto", typeProto, l4Field(0))
	add("ip protocol", typeProto, l4Field(4))
	add("ip6 nexthdr", typeProto, l4Field(6))
	add("meta nfproto", typeNFProto, always(func(p *Packet) value {
		if p.Src.Unmap().Is4() {
			return value{num: 2}
		}
		return value{num: 10}
	}))
	add("meta mark", typeMark, always(func(p *Packet) value { return value{num: uint64(p.Mark)} }))
	add("ct state", typeCTState, always(func(p *Packet) value { return value{num: typeCTState.names[p.ctState()]} }))
	add("ct status", typeCTStatus, always(func(p *Packet) value {
		if p.dnatted {
			return value{num: typeCTStatus.names["dnat"]}
		}
		return value{}
	}))
	// The packet's path says whether its destination is local: it is when the packet is
	// delivered to the host (an input interface and no output interface).
	add("fib daddr type", typeFibAddr, always(func(p *Packet) value {
		if p.IIF != "" && p.OIF == "" {
			return value{num: typeFibAddr.names["local"]}
		}
		return value{num: typeFibAddr.names["unicast"]}
	}))
	// A source is local exactly when the host sends the packet (no input interface).
	add("fib saddr type", typeFibAddr, always(func(p *Packet) value {
		if p.IIF == "" {
			return value{num: typeFibAddr.names["local"]}
		}
		return value{num: typeFibAddr.names["unicast"]}
	}))
	add("ip saddr", typeAddr4, addrField(4, true))
	add("ip daddr", typeAddr4, addrField(4, false))
	add("ip6 saddr", typeAddr6, addrField(6, true))
	add("ip6 daddr", typeAddr6, addrField(6, false))
	for proto, n := range map[string]uint64{"th": 0, "tcp": 6, "udp": 17, "sctp": 132} {
		add(proto+" sport", typeService, portField(n, true))
		add(proto+" dport", typeService, portField(n, false))
	}
	add("icmp type", typeICMP, icmpField(4, false))
	add("icmp code", typeICMPCode, icmpField(4, true))
	add("icmpv6 type", typeICMPv6, icmpField(6, false))
	add("icmpv6 code", typeICMPCode, icmpField(6, true))
}
