package trace

import (
	"net/netip"
	"strings"
)

// Probe is the first packet of a connectivity probe from src to dst: a TCP or UDP
// packet to port (from port 40000), or for proto "icmp" an ICMP echo request (ICMPv6
// when the addresses are IPv6). iif and oif are as in Packet.
func Probe(iif, oif string, src, dst netip.Addr, proto string, port uint16) Packet {
	p := Packet{IIF: iif, OIF: oif, Src: src, Dst: dst, Proto: proto, SPort: 40000, DPort: port}
	if proto == "icmp" || proto == "icmpv6" {
		p.SPort, p.DPort, p.ICMPType, p.Proto = 0, 0, 8, "icmp"
		if src.Unmap().Is6() {
			p.Proto, p.ICMPType = "icmpv6", 128
		}
	}
	return p
}

// RoundTrip traces p and, when it is accepted, the reply to it (Reply): ok reports
// whether both got through, which is what a probe that waits for an answer sees.
// Explain describes both traces for failure messages.
func (t *Table) RoundTrip(p Packet) (ok bool, explain string, err error) {
	req, err := t.Trace(p)
	if err != nil {
		return false, "", err
	}
	var b strings.Builder
	b.WriteString("request " + p.String() + ":\n" + req.String())
	if req.Verdict != Accept {
		return false, b.String(), nil
	}
	rp := Reply(p, req)
	rep, err := t.Trace(rp)
	if err != nil {
		return false, b.String(), err
	}
	b.WriteString("reply " + rp.String() + ":\n" + rep.String())
	return rep.Verdict == Accept, b.String(), nil
}
