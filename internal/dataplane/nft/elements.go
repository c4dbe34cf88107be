package nft

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// Decoding the kernel's set elements (netlink data) into the canonical text of
// Set.Elements, so that a full sync compares them with what it wants. Only the types
// the renderers use are decoded (addresses, protocols, ports, interface names,
// verdicts, and concatenations of these); anything else makes the set unknown, and the
// full sync then flushes and refills it as before.

// rawElement is one element as netlink returns it.
type rawElement struct {
	key, keyEnd, data []byte
	intervalEnd       bool
	verdict           *rawVerdict
}

type rawVerdict struct {
	code  int32
	chain string
}

// field is one part of a set type.
type field struct {
	size   int
	format func([]byte) string
}

var fieldTypes = map[string]field{
	"ipv4_addr":    {4, func(b []byte) string { return netip.AddrFrom4([4]byte(b)).String() }},
	"ipv6_addr":    {16, func(b []byte) string { return netip.AddrFrom16([16]byte(b)).String() }},
	"inet_proto":   {1, func(b []byte) string { return protoText(b[0]) }},
	"inet_service": {2, func(b []byte) string { return strconv.Itoa(int(binary.BigEndian.Uint16(b))) }},
	"ifname": {16, func(b []byte) string {
		if i := slices.Index(b, 0); i >= 0 {
			b = b[:i]
		}
		return quote(string(b))
	}},
}

func protoText(p byte) string {
	switch p {
	case 1:
		return "icmp"
	case 6:
		return "tcp"
	case 17:
		return "udp"
	case 58:
		return "ipv6-icmp"
	case 132:
		return "sctp"
	}
	return strconv.Itoa(int(p))
}

// parseFields parses "t1 . t2 ..." (nil when a part is unknown).
func parseFields(typ string) []field {
	var out []field
	for _, part := range strings.Split(typ, " . ") {
		f, ok := fieldTypes[strings.TrimSpace(part)]
		if !ok {
			return nil
		}
		out = append(out, f)
	}
	return out
}

// decodeData formats b as the fields; a concatenation pads each field to 4 bytes.
func decodeData(fields []field, b []byte) (string, bool) {
	if len(fields) == 1 {
		if len(b) != fields[0].size {
			return "", false
		}
		return fields[0].format(b), true
	}
	parts := make([]string, len(fields))
	for i, f := range fields {
		n := (f.size + 3) &^ 3
		if len(b) < n {
			return "", false
		}
		parts[i] = f.format(b[:f.size])
		b = b[n:]
	}
	return strings.Join(parts, " . "), len(b) == 0
}

func (v *rawVerdict) text() (string, bool) {
	switch v.code {
	case 1:
		return "accept", true
	case 0:
		return "drop", true
	case -1:
		return "continue", true
	case -5:
		return "return", true
	case -3:
		return "jump " + v.chain, v.chain != ""
	case -4:
		return "goto " + v.chain, v.chain != ""
	}
	return "", false
}

// decodeElements decodes a set's elements for the desired set s (its type says how);
// ok is false when any element cannot be decoded.
func decodeElements(s *Set, raw []rawElement) (map[string]string, bool) {
	keyType, valType, _ := strings.Cut(s.Type, " : ")
	keys := parseFields(keyType)
	if keys == nil {
		return nil, false
	}
	if s.Interval {
		if s.Map || len(keys) != 1 {
			return nil, false
		}
		return decodeIntervals(keys[0], raw)
	}
	var vals []field
	if s.Map && valType != "verdict" {
		if vals = parseFields(valType); vals == nil {
			return nil, false
		}
	}
	out := make(map[string]string, len(raw))
	for _, e := range raw {
		if e.intervalEnd || e.keyEnd != nil {
			return nil, false
		}
		k, ok := decodeData(keys, e.key)
		if !ok {
			return nil, false
		}
		v := ""
		switch {
		case !s.Map:
		case e.verdict != nil:
			v, ok = e.verdict.text()
		default:
			v, ok = decodeData(vals, e.data)
		}
		if !ok {
			return nil, false
		}
		out[k] = v
	}
	return out, true
}

// decodeIntervals turns the kernel's interval elements (a start, and an end element
// holding the first address after the interval unless the interval reaches the top of
// the address space) into the prefixes they cover, in prefixString form.
func decodeIntervals(f field, raw []rawElement) (map[string]string, bool) {
	if f.size != 4 && f.size != 16 {
		return nil, false
	}
	type bound struct {
		addr netip.Addr
		end  bool
	}
	bounds := make([]bound, 0, len(raw))
	for _, e := range raw {
		if len(e.key) != f.size || e.keyEnd != nil {
			return nil, false
		}
		a, _ := netip.AddrFromSlice(e.key)
		bounds = append(bounds, bound{a, e.intervalEnd})
	}
	slices.SortFunc(bounds, func(a, b bound) int {
		if c := a.addr.Compare(b.addr); c != 0 {
			return c
		}
		if a.end == b.end {
			return 0
		}
		if a.end {
			return -1 // an interval ending where the next one starts
		}
		return 1
	})
	out := map[string]string{}
	for i := 0; i < len(bounds); i++ {
		if bounds[i].end {
			if bounds[i].addr.IsUnspecified() {
				continue // the kernel's end marker at address zero
			}
			return nil, false
		}
		start, last := bounds[i].addr, lastAddr(f.size)
		if i+1 < len(bounds) && bounds[i+1].end {
			last = bounds[i+1].addr.Prev()
			i++
		}
		p, ok := rangePrefix(start, last)
		if !ok {
			return nil, false
		}
		out[prefixString(p)] = ""
	}
	return out, true
}

func lastAddr(size int) netip.Addr {
	if size == 4 {
		return netip.AddrFrom4([4]byte{255, 255, 255, 255})
	}
	var b [16]byte
	for i := range b {
		b[i] = 0xff
	}
	return netip.AddrFrom16(b)
}

// rangePrefix returns the prefix covering exactly first..last, if there is one.
func rangePrefix(first, last netip.Addr) (netip.Prefix, bool) {
	for bits := 0; bits <= first.BitLen(); bits++ {
		p := netip.PrefixFrom(first, bits)
		if p.Masked().Addr() != first {
			continue
		}
		if prefixLast(p) == last {
			return p, true
		}
	}
	return netip.Prefix{}, false
}

// prefixLast is the last address of p.
func prefixLast(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// String is for test failures.
func (e rawElement) String() string {
	return fmt.Sprintf("key=%x end=%v data=%x verdict=%v", e.key, e.intervalEnd, e.data, e.verdict)
}
