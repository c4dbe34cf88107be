package trace

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// kind is how values of a data type are compared.
type kind int

const (
	kindAddr4   kind = iota + 1 // IPv4 address; prefixes and ranges are intervals
	kindAddr6                   // IPv6 address
	kindNum                     // unsigned number (ports, protocols, marks, ICMP fields)
	kindIfname                  // interface name; a trailing * in a key is a prefix match
	kindCTState                 // conntrack state bit mask; a key matches any of its bits
)

// dataType is an nft data type the tracer understands.
type dataType struct {
	name  string // nft's name, as in a set declaration ("ipv4_addr")
	kind  kind
	max   uint64            // largest number (kindNum)
	names map[string]uint64 // symbolic constants (kindNum, kindCTState)
}

var (
	typeAddr4   = &dataType{name: "ipv4_addr", kind: kindAddr4}
	typeAddr6   = &dataType{name: "ipv6_addr", kind: kindAddr6}
	typeService = &dataType{name: "inet_service", kind: kindNum, max: 0xffff}
	typeProto   = &dataType{name: "inet_proto", kind: kindNum, max: 0xff, names: map[string]uint64{
		"icmp": 1, "igmp": 2, "tcp": 6, "udp": 17, "dccp": 33, "gre": 47, "esp": 50, "ah": 51,
		"icmpv6": 58, "ipv6-icmp": 58, "sctp": 132, "udplite": 136}}
	typeNFProto = &dataType{name: "nf_proto", kind: kindNum, max: 0xff, names: map[string]uint64{"ipv4": 2, "ipv6": 10}}
	typeMark    = &dataType{name: "mark", kind: kindNum, max: 0xffffffff}
	typeICMP    = &dataType{name: "icmp_type", kind: kindNum, max: 0xff, names: map[string]uint64{
		"echo-reply": 0, "destination-unreachable": 3, "redirect": 5, "echo-request": 8,
		"router-advertisement": 9, "router-solicitation": 10, "time-exceeded": 11, "parameter-problem": 12}}
	typeICMPv6 = &dataType{name: "icmpv6_type", kind: kindNum, max: 0xff, names: map[string]uint64{
		"destination-unreachable": 1, "packet-too-big": 2, "time-exceeded": 3, "parameter-problem": 4,
		"echo-request": 128, "echo-reply": 129, "nd-router-solicit": 133, "nd-router-advert": 134,
		"nd-neighbor-solicit": 135, "nd-neighbor-advert": 136}}
	typeICMPCode = &dataType{name: "icmp_code", kind: kindNum, max: 0xff}
	typeIfname   = &dataType{name: "ifname", kind: kindIfname}
	typeCTStatus = &dataType{name: "ct_status", kind: kindCTState, names: map[string]uint64{
		"expected": 1, "seen-reply": 2, "assured": 4, "confirmed": 8, "snat": 16, "dnat": 32, "dying": 512}}
	typeFibAddr = &dataType{name: "fib_addrtype", kind: kindNum, max: 0xffffffff, names: map[string]uint64{
		"unspec": 0, "unicast": 1, "local": 2, "broadcast": 3, "anycast": 4, "multicast": 5,
		"blackhole": 6, "unreachable": 7, "prohibit": 8}}
	typeCTState = &dataType{name: "ct_state", kind: kindCTState, names: map[string]uint64{
		"invalid": 1, "established": 2, "related": 4, "new": 8, "untracked": 64}}
)

// dataTypes are the types a set declaration may name, by name.
var dataTypes = map[string]*dataType{}

func init() {
	for _, t := range []*dataType{typeAddr4, typeAddr6, typeService, typeProto, typeNFProto, typeMark,
		typeICMP, typeICMPv6, typeICMPCode, typeIfname, typeCTState, typeCTStatus, typeFibAddr} {
		dataTypes[t.name] = t
	}
}

// value is one packet field's value.
type value struct {
	addr netip.Addr
	num  uint64
	str  string
	// unknown marks bytes the tracer cannot know (th ports of ICMP): it matches every
	// key, and a lookup that matches only thanks to it is an error (see lookupKnown).
	unknown bool
}

// matcher is one key of a set element, an anonymous set or a plain comparison: an exact
// value, an interval (prefix or range), an interface name prefix or a state mask.
type matcher struct {
	lo, hi   value
	interval bool
	prefix   bool // kindIfname: str is a prefix
}

func (m matcher) match(t *dataType, v value) bool {
	if v.unknown {
		return true
	}
	switch t.kind {
	case kindAddr4, kindAddr6:
		if m.interval {
			return m.lo.addr.Compare(v.addr) <= 0 && v.addr.Compare(m.hi.addr) <= 0
		}
		return m.lo.addr == v.addr
	case kindNum:
		if m.interval {
			return m.lo.num <= v.num && v.num <= m.hi.num
		}
		return m.lo.num == v.num
	case kindIfname:
		if m.prefix {
			return strings.HasPrefix(v.str, m.lo.str)
		}
		return m.lo.str == v.str
	case kindCTState:
		return m.lo.num&v.num != 0
	}
	return false
}

// exactKey is the map key of a matcher that matches exactly one value, and false for
// intervals, prefixes and masks.
func (m matcher) exactKey(t *dataType) (string, bool) {
	if m.interval || m.prefix || t.kind == kindCTState {
		return "", false
	}
	return valueKey(t, m.lo), true
}

func valueKey(t *dataType, v value) string {
	switch t.kind {
	case kindAddr4, kindAddr6:
		return v.addr.String()
	case kindNum:
		return strconv.FormatUint(v.num, 10)
	default:
		return v.str
	}
}

// parseMatcher parses one key in nft syntax as type t: a value, a prefix (a/n) or a
// range (a-b) for addresses and numbers, a quoted or bare name (a trailing * is a
// wildcard), or a comma-separated list of conntrack states.
func parseMatcher(t *dataType, s string) (matcher, error) {
	switch t.kind {
	case kindAddr4, kindAddr6:
		return parseAddrMatcher(t, s)
	case kindNum:
		if lo, hi, ok := strings.Cut(s, "-"); ok && lo != "" && t.names[s] == 0 {
			a, err1 := parseNum(t, lo)
			b, err2 := parseNum(t, hi)
			if err1 != nil || err2 != nil || a > b {
				return matcher{}, fmt.Errorf("invalid %s range %q", t.name, s)
			}
			return matcher{lo: value{num: a}, hi: value{num: b}, interval: true}, nil
		}
		n, err := parseNum(t, s)
		if err != nil {
			return matcher{}, err
		}
		return matcher{lo: value{num: n}}, nil
	case kindIfname:
		name, err := unquote(s)
		if err != nil {
			return matcher{}, err
		}
		if strings.HasSuffix(name, `\*`) {
			return matcher{lo: value{str: strings.TrimSuffix(name, `\*`) + "*"}}, nil
		}
		if p, ok := strings.CutSuffix(name, "*"); ok {
			return matcher{lo: value{str: p}, prefix: true}, nil
		}
		return matcher{lo: value{str: name}}, nil
	case kindCTState:
		var mask uint64
		for _, part := range strings.Split(s, ",") {
			bit, ok := t.names[part]
			if !ok {
				return matcher{}, fmt.Errorf("unknown %s %q", t.name, part)
			}
			mask |= bit
		}
		return matcher{lo: value{num: mask}}, nil
	}
	return matcher{}, fmt.Errorf("unsupported type %s", t.name)
}

func parseAddrMatcher(t *dataType, s string) (matcher, error) {
	fam := func(a netip.Addr) bool { return (t.kind == kindAddr4) == a.Is4() }
	if lo, hi, ok := strings.Cut(s, "-"); ok {
		a, err1 := netip.ParseAddr(lo)
		b, err2 := netip.ParseAddr(hi)
		if err1 != nil || err2 != nil || !fam(a) || !fam(b) || b.Less(a) {
			return matcher{}, fmt.Errorf("invalid %s range %q", t.name, s)
		}
		return matcher{lo: value{addr: a}, hi: value{addr: b}, interval: true}, nil
	}
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil || !fam(p.Addr()) {
			return matcher{}, fmt.Errorf("invalid %s prefix %q", t.name, s)
		}
		if p != p.Masked() {
			return matcher{}, fmt.Errorf("prefix %q has host bits set", s)
		}
		return matcher{lo: value{addr: p.Addr()}, hi: value{addr: lastAddr(p)}, interval: true}, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || !fam(a) {
		return matcher{}, fmt.Errorf("invalid %s %q", t.name, s)
	}
	return matcher{lo: value{addr: a}}, nil
}

// lastAddr is the highest address of a masked prefix.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

func parseNum(t *dataType, s string) (uint64, error) {
	if n, ok := t.names[s]; ok {
		return n, nil
	}
	n, err := strconv.ParseUint(s, 0, 64)
	if err != nil || n > t.max {
		return 0, fmt.Errorf("invalid %s %q", t.name, s)
	}
	return n, nil
}

// unquote removes the double quotes around a name; a bare name is returned as it is.
func unquote(s string) (string, error) {
	if !strings.HasPrefix(s, `"`) {
		return s, nil
	}
	if len(s) < 2 || !strings.HasSuffix(s, `"`) {
		return "", fmt.Errorf("unterminated string %s", s)
	}
	return s[1 : len(s)-1], nil
}
