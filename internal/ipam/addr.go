package ipam

import (
	"encoding/binary"
	"hash/fnv"
	"net/netip"
	"strings"
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

func (v u128) add(n u128) u128 {
	lo := v.lo + n.lo
	carry := uint64(0)
	if lo < v.lo {
		carry = 1
	}
	return u128{hi: v.hi + n.hi + carry, lo: lo}
}

func (v u128) sub(n u128) u128 {
	lo := v.lo - n.lo
	borrow := uint64(0)
	if v.lo < n.lo {
		borrow = 1
	}
	return u128{hi: v.hi - n.hi - borrow, lo: lo}
}

// shl shifts left by s < 128.
func (v u128) shl(s int) u128 {
	switch {
	case s == 0:
		return v
	case s >= 64:
		return u128{hi: v.lo << (s - 64)}
	}
	return u128{hi: v.hi<<s | v.lo>>(64-s), lo: v.lo << s}
}

// shr shifts right by s < 128.
func (v u128) shr(s int) u128 {
	switch {
	case s == 0:
		return v
	case s >= 64:
		return u128{lo: v.hi >> (s - 64)}
	}
	return u128{hi: v.hi >> s, lo: v.lo>>s | v.hi<<(64-s)}
}

func addrBits(p netip.Prefix) int { return p.Addr().BitLen() }

// blockCount is the number of blocks of prefix length bits in the pool, capped at 2^62 so
// it fits an int64 comfortably (nobody walks that far).
func blockCount(pool netip.Prefix, bits int) uint64 {
	n := bits - pool.Bits()
	if n >= 62 {
		return 1 << 62
	}
	return 1 << n
}

// nthBlock is the i-th block of prefix length bits inside pool.
func nthBlock(pool netip.Prefix, bits int, i uint64) netip.Prefix {
	base := toU128(pool.Masked().Addr())
	off := u128{lo: i}.shl(addrBits(pool) - bits)
	return netip.PrefixFrom(fromU128(base.add(off), pool.Addr().Is4()), bits)
}

// blockSize is the number of addresses in a block.
func blockSize(b netip.Prefix) int {
	return 1 << (addrBits(b) - b.Bits())
}

// ordinalAddr is the address at ordinal i of block b.
func ordinalAddr(b netip.Prefix, i int) netip.Addr {
	return fromU128(toU128(b.Addr()).add(u128{lo: uint64(i)}), b.Addr().Is4())
}

// addrOrdinal is the ordinal of a inside block b (a must be inside b).
func addrOrdinal(b netip.Prefix, a netip.Addr) int {
	return int(toU128(a).sub(toU128(b.Addr())).lo)
}

// blockOf is the block of prefix length bits that contains a.
func blockOf(a netip.Addr, bits int) netip.Prefix {
	p, _ := a.Prefix(bits)
	return p
}

// nodeOffset is the start offset of a node's candidate walk over n blocks.
func nodeOffset(node string, n uint64) uint64 {
	h := fnv.New64a()
	h.Write([]byte(node))
	return h.Sum64() % n
}

// BlockName is the record name of a block: its CIDR with '.', ':' and '/' as '-'
// (10.0.0.64/26 -> 10-0-0-64-26), as Calico names its blocks.
func BlockName(cidr netip.Prefix) string {
	return strings.NewReplacer(".", "-", ":", "-", "/", "-").Replace(cidr.String())
}

// AffinityName is the record name of node's affinity to the block cidr.
func AffinityName(node string, cidr netip.Prefix) string {
	return node + "-" + BlockName(cidr)
}
