// Package nflog reads packets the kernel logs to an NFLOG group (nftables `log group N`)
// over the nfnetlink_log protocol: each with its log prefix, addresses, protocol and
// ports. The flow collector reads the agent's flow-log group with it.
//
// A reader never slows the dataplane: when it falls behind, the kernel drops log
// messages rather than packets. The reader asks for a per-group sequence number on every
// message, so Stats counts exactly how many it lost.
package nflog

import (
	"fmt"
	"net/netip"
	"time"
)

// Packet is one logged packet.
type Packet struct {
	Time     time.Time
	Prefix   string
	Src, Dst netip.Addr
	// Proto is tcp, udp, sctp, icmp, icmpv6 or the protocol number.
	Proto            string
	SrcPort, DstPort uint16
	// Len is the packet's length at layer 3 (its IP total length).
	Len int
	// Mark is the packet's mark when it was logged.
	Mark uint32
}

// Stats counts what a reader saw.
type Stats struct {
	Packets uint64 // messages read
	Lost    uint64 // messages the kernel dropped (sequence gaps, or an overrun without them)
	Bad     uint64 // messages that could not be parsed
}

// parsePayload reads the IP header and the transport ports of a logged packet's start.
func parsePayload(b []byte, p *Packet) error {
	if len(b) < 1 {
		return fmt.Errorf("empty payload")
	}
	var proto byte
	var l4 []byte
	switch b[0] >> 4 {
	case 4:
		if len(b) < 20 {
			return fmt.Errorf("short IPv4 header: %d bytes", len(b))
		}
		ihl := int(b[0]&0x0f) * 4
		if ihl < 20 || len(b) < ihl {
			return fmt.Errorf("bad IPv4 header length %d", ihl)
		}
		p.Len = int(b[2])<<8 | int(b[3])
		proto = b[9]
		p.Src = netip.AddrFrom4([4]byte(b[12:16]))
		p.Dst = netip.AddrFrom4([4]byte(b[16:20]))
		if frag := (int(b[6])&0x1f)<<8 | int(b[7]); frag == 0 {
			l4 = b[ihl:]
		}
	case 6:
		if len(b) < 40 {
			return fmt.Errorf("short IPv6 header: %d bytes", len(b))
		}
		p.Len = 40 + (int(b[4])<<8 | int(b[5]))
		proto = b[6]
		p.Src = netip.AddrFrom16([16]byte(b[8:24]))
		p.Dst = netip.AddrFrom16([16]byte(b[24:40]))
		l4 = b[40:] // extension headers are not walked: a packet with them has no ports here
	default:
		return fmt.Errorf("IP version %d", b[0]>>4)
	}
	p.Proto = ProtoName(proto)
	switch proto {
	case 6, 17, 132, 136: // tcp, udp, sctp, udplite: ports first
		if len(l4) >= 4 {
			p.SrcPort = uint16(l4[0])<<8 | uint16(l4[1])
			p.DstPort = uint16(l4[2])<<8 | uint16(l4[3])
		}
	}
	return nil
}

// ProtoName names an IP protocol number as flows do: tcp, udp, sctp, icmp, icmpv6, or the
// number.
func ProtoName(n byte) string {
	switch n {
	case 1:
		return "icmp"
	case 6:
		return "tcp"
	case 17:
		return "udp"
	case 58:
		return "icmpv6"
	case 132:
		return "sctp"
	}
	return fmt.Sprint(n)
}
