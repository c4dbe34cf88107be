package ipmath

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
)

// u128 is an address as a 128-bit unsigned integer (IPv4 in the low 32 bits).
type u128 struct{ hi, lo uint64 }

func toU128(a netip.Addr) u128 {
	if a.Is4() {
		b := a.As4()
		return u128{lo: uint64(binary.BigEndian.Uint32(b[:]))}
	}
	b := a.As16()
	return u128{hi: binary.BigEndian.Uint64(b[:8]), lo: binary.BigEndian.Uint64(b[8:])}
}

func fromU128(v u128, is4 bool) netip.Addr {
	if is4 {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], uint32(v.lo))
		return netip.AddrFrom4(b)
	}
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], v.hi)
	binary.BigEndian.PutUint64(b[8:], v.lo)
	return netip.AddrFrom16(b)
}

// add returns v+n and whether the sum overflowed 128 bits.
func (v u128) add(n u128) (u128, bool) {
	lo, carry := bits.Add64(v.lo, n.lo, 0)
	hi, carry := bits.Add64(v.hi, n.hi, carry)
	return u128{hi: hi, lo: lo}, carry != 0
}

// sub returns v-n for v >= n.
func (v u128) sub(n u128) u128 {
	lo, borrow := bits.Sub64(v.lo, n.lo, 0)
	hi, _ := bits.Sub64(v.hi, n.hi, borrow)
	return u128{hi: hi, lo: lo}
}

func (v u128) less(n u128) bool { return v.hi < n.hi || (v.hi == n.hi && v.lo < n.lo) }

// shl shifts left by s, 0 <= s < 128.
func (v u128) shl(s int) u128 {
	switch {
	case s == 0:
		return v
	case s >= 64:
		return u128{hi: v.lo << (s - 64)}
	}
	return u128{hi: v.hi<<s | v.lo>>(64-s), lo: v.lo << s}
}

// Add returns a+n, or false when the sum is past the last address of a's family
// (255.255.255.255, ffff:...:ffff) or a is not valid.
func Add(a netip.Addr, n uint64) (netip.Addr, bool) {
	if !a.IsValid() {
		return netip.Addr{}, false
	}
	sum, over := toU128(a).add(u128{lo: n})
	if over || (a.Is4() && (sum.hi != 0 || sum.lo>>32 != 0)) {
		return netip.Addr{}, false
	}
	return fromU128(sum, a.Is4()), true
}

// Distance returns to-from, or false when the two are not both valid addresses of one
// family, when to is before from, or when the distance is 2^64 or more.
func Distance(from, to netip.Addr) (uint64, bool) {
	if !from.IsValid() || !to.IsValid() || from.Is4() != to.Is4() {
		return 0, false
	}
	f, t := toU128(from), toU128(to)
	if t.less(f) {
		return 0, false
	}
	d := t.sub(f)
	if d.hi != 0 {
		return 0, false
	}
	return d.lo, true
}

// Size returns the number of addresses in p, or false when p is not valid or holds 2^64
// addresses or more (an IPv6 prefix of /64 or shorter).
func Size(p netip.Prefix) (uint64, bool) {
	if !p.IsValid() {
		return 0, false
	}
	host := p.Addr().BitLen() - p.Bits()
	if host >= 64 {
		return 0, false
	}
	return 1 << host, true
}

// Nth returns the address at index i of p (index 0 is p's masked address), or false when p
// is not valid or i is not below Size(p).
func Nth(p netip.Prefix, i uint64) (netip.Addr, bool) {
	if !p.IsValid() {
		return netip.Addr{}, false
	}
	if n, ok := Size(p); ok && i >= n {
		return netip.Addr{}, false
	}
	return Add(p.Masked().Addr(), i)
}

// Index returns a's index in p (Nth's inverse), or false when p does not contain a or the
// index is 2^64 or more.
func Index(p netip.Prefix, a netip.Addr) (uint64, bool) {
	if !p.IsValid() || !p.Contains(a) {
		return 0, false
	}
	return Distance(p.Masked().Addr(), a)
}

// Subnet returns the i-th prefix of the given length inside p, in address order (subnet 0
// starts at p's masked address), or false when p is not valid, length is shorter than p or
// longer than the family's, or i is not below the number of such subnets.
func Subnet(p netip.Prefix, length int, i uint64) (netip.Prefix, bool) {
	width := p.Addr().BitLen()
	if !p.IsValid() || length < p.Bits() || length > width {
		return netip.Prefix{}, false
	}
	if n := length - p.Bits(); n < 64 && i >= 1<<n {
		return netip.Prefix{}, false
	}
	base := toU128(p.Masked().Addr())
	start, _ := base.add(u128{lo: i}.shl(width - length)) // inside p: cannot overflow
	return netip.PrefixFrom(fromU128(start, p.Addr().Is4()), length), true
}
