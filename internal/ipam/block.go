package ipam

import (
	"maps"
	"net/netip"
	"slices"
)

// newBlock returns an empty block for cidr, affine to node.
func newBlock(cidr netip.Prefix, node string) *Block {
	n := blockSize(cidr)
	b := &Block{
		Meta:        Meta{Name: BlockName(cidr)},
		CIDR:        cidr,
		Affinity:    node,
		Allocations: make([]int, n),
		Unallocated: make([]int, n),
		Seqs:        make([]uint64, n),
	}
	for i := range n {
		b.Allocations[i] = -1
		b.Unallocated[i] = i
	}
	return b
}

// Clone returns a copy of b that can be changed without affecting b. Attribute maps are
// shared: they are never modified once recorded (attributeIndex stores a private copy).
func (b *Block) Clone() *Block {
	c := *b
	c.Allocations = slices.Clone(b.Allocations)
	c.Unallocated = slices.Clone(b.Unallocated)
	c.Attributes = slices.Clone(b.Attributes)
	c.Seqs = slices.Clone(b.Seqs)
	if len(c.Seqs) < len(c.Allocations) {
		c.Seqs = append(c.Seqs, make([]uint64, len(c.Allocations)-len(c.Seqs))...)
	}
	return &c
}

// Free is the number of unallocated ordinals.
func (b *Block) Free() int { return len(b.Unallocated) }

// InUse is the number of allocated ordinals.
func (b *Block) InUse() int { return len(b.Allocations) - len(b.Unallocated) }

// Empty reports whether nothing is allocated.
func (b *Block) Empty() bool { return b.InUse() == 0 }

// Allocation is one allocated address as recorded in its block.
type Allocation struct {
	Addr     netip.Addr        `json:"addr"`
	Block    netip.Prefix      `json:"block"`
	Handle   string            `json:"handle"`
	Attrs    map[string]string `json:"attrs,omitempty"`
	Sequence uint64            `json:"sequence"`
}

// Allocated lists the block's allocations in address order.
func (b *Block) Allocated() []Allocation {
	var out []Allocation
	for i, ai := range b.Allocations {
		if ai < 0 {
			continue
		}
		a := b.Attributes[ai]
		out = append(out, Allocation{Addr: ordinalAddr(b.CIDR, i), Block: b.CIDR, Handle: a.Handle,
			Attrs: maps.Clone(a.Attrs), Sequence: b.Seqs[i]})
	}
	return out
}

// attributeIndex finds or appends the attribute for handle+attrs.
func (b *Block) attributeIndex(handle string, attrs map[string]string) int {
	for i, a := range b.Attributes {
		if a.Handle == handle && maps.Equal(a.Attrs, attrs) {
			return i
		}
	}
	b.Attributes = append(b.Attributes, Attribute{Handle: handle, Attrs: maps.Clone(attrs)})
	return len(b.Attributes) - 1
}

// assign allocates up to n free ordinals that skip is false for, in hand-out order, and
// returns the allocations made.
func (b *Block) assign(n int, handle string, attrs map[string]string, skip func(netip.Addr) bool) []Allocation {
	var out []Allocation
	var keep []int
	ai := -1
	for idx, ord := range b.Unallocated {
		if len(out) == n {
			keep = append(keep, b.Unallocated[idx:]...)
			break
		}
		a := ordinalAddr(b.CIDR, ord)
		if skip != nil && skip(a) {
			keep = append(keep, ord)
			continue
		}
		if ai < 0 {
			ai = b.attributeIndex(handle, attrs)
		}
		out = append(out, b.take(ord, ai, handle, attrs))
	}
	if len(out) > 0 {
		b.Unallocated = keep
	}
	return out
}

// take records ordinal ord as allocated to attribute ai (ord must already be out of, or be
// removed by the caller from, Unallocated).
func (b *Block) take(ord, ai int, handle string, attrs map[string]string) Allocation {
	b.Allocations[ord] = ai
	seq := b.Sequence
	b.Sequence++
	b.Seqs[ord] = seq
	return Allocation{Addr: ordinalAddr(b.CIDR, ord), Block: b.CIDR, Handle: handle, Attrs: maps.Clone(attrs), Sequence: seq}
}

// assignAddr allocates a specific address; false when it is taken.
func (b *Block) assignAddr(a netip.Addr, handle string, attrs map[string]string) (Allocation, bool) {
	ord := addrOrdinal(b.CIDR, a)
	if b.Allocations[ord] >= 0 {
		return Allocation{}, false
	}
	b.Unallocated = slices.DeleteFunc(b.Unallocated, func(o int) bool { return o == ord })
	return b.take(ord, b.attributeIndex(handle, attrs), handle, attrs), true
}

// releaseResult says what happened to one address.
type releaseResult int

const (
	released releaseResult = iota
	notAllocated
	wrongHandle
	wrongSequence
)

// release frees address a if it is allocated and, when given, owned by handle and carrying
// sequence seq. It returns the handle that owned it.
func (b *Block) release(a netip.Addr, handle string, seq *uint64) (string, releaseResult) {
	ord := addrOrdinal(b.CIDR, a)
	ai := b.Allocations[ord]
	if ai < 0 {
		return "", notAllocated
	}
	owner := b.Attributes[ai].Handle
	if handle != "" && owner != handle {
		return owner, wrongHandle
	}
	if seq != nil && b.Seqs[ord] != *seq {
		return owner, wrongSequence
	}
	b.Allocations[ord] = -1
	b.Seqs[ord] = 0
	b.Unallocated = append(b.Unallocated, ord)
	b.compactAttributes()
	return owner, released
}

// releaseHandle frees every address owned by handle and returns how many.
func (b *Block) releaseHandle(handle string) int {
	n := 0
	for ord, ai := range b.Allocations {
		if ai >= 0 && b.Attributes[ai].Handle == handle {
			b.Allocations[ord] = -1
			b.Seqs[ord] = 0
			b.Unallocated = append(b.Unallocated, ord)
			n++
		}
	}
	if n > 0 {
		b.compactAttributes()
	}
	return n
}

// addrsOf lists the addresses owned by handle.
func (b *Block) addrsOf(handle string) []netip.Addr {
	var out []netip.Addr
	for ord, ai := range b.Allocations {
		if ai >= 0 && b.Attributes[ai].Handle == handle {
			out = append(out, ordinalAddr(b.CIDR, ord))
		}
	}
	return out
}

// compactAttributes drops attributes no allocation refers to and renumbers the rest.
func (b *Block) compactAttributes() {
	used := make([]bool, len(b.Attributes))
	for _, ai := range b.Allocations {
		if ai >= 0 {
			used[ai] = true
		}
	}
	remap := make([]int, len(b.Attributes))
	var attrs []Attribute
	for i, a := range b.Attributes {
		if used[i] {
			remap[i] = len(attrs)
			attrs = append(attrs, a)
		}
	}
	for ord, ai := range b.Allocations {
		if ai >= 0 {
			b.Allocations[ord] = remap[ai]
		}
	}
	b.Attributes = attrs
}
