package ipam

import (
	"hash/fnv"
	"net/netip"
	"strings"

	"github.com/trellisnet/trellis/internal/ipmath"
)

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
	p, _ := ipmath.Subnet(pool, bits, i)
	return p
}

// blockSize is the number of addresses in a block.
func blockSize(b netip.Prefix) int {
	n, _ := ipmath.Size(b)
	return int(n)
}

// ordinalAddr is the address at ordinal i of block b.
func ordinalAddr(b netip.Prefix, i int) netip.Addr {
	a, _ := ipmath.Add(b.Addr(), uint64(i))
	return a
}

// addrOrdinal is the ordinal of a inside block b (a must be inside b: an address before
// the block gives -1, so that indexing with it panics as a broken invariant should).
func addrOrdinal(b netip.Prefix, a netip.Addr) int {
	d, ok := ipmath.Distance(b.Addr(), a)
	if !ok {
		return -1
	}
	return int(d)
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
