package ipam

import (
	"context"
	"fmt"
	"math/big"
	"net/netip"
	"slices"
	"strings"
)

// AttrNode is the allocation attribute naming the node that asked for the address;
// AttrNamespace and AttrPod name the workload, AttrContainerID its container.
const (
	AttrNode        = "node"
	AttrNamespace   = "namespace"
	AttrPod         = "pod"
	AttrContainerID = "containerID"
)

// Snapshot is every IPAM record, read at one time.
type Snapshot struct {
	Blocks     []*Block
	Affinities []*Affinity
	Handles    []*Handle
}

// Snapshot reads every block, affinity and handle.
func (a *Allocator) Snapshot(ctx context.Context) (Snapshot, error) {
	var s Snapshot
	var err error
	if s.Blocks, err = a.store.Blocks().List(ctx); err != nil {
		return s, fmt.Errorf("list blocks: %w", err)
	}
	if s.Affinities, err = a.store.Affinities().List(ctx); err != nil {
		return s, fmt.Errorf("list affinities: %w", err)
	}
	if s.Handles, err = a.store.Handles().List(ctx); err != nil {
		return s, fmt.Errorf("list handles: %w", err)
	}
	slices.SortFunc(s.Blocks, func(x, y *Block) int { return x.CIDR.Addr().Compare(y.CIDR.Addr()) })
	slices.SortFunc(s.Affinities, func(x, y *Affinity) int { return strings.Compare(x.Name, y.Name) })
	slices.SortFunc(s.Handles, func(x, y *Handle) int { return strings.Compare(x.Name, y.Name) })
	return s, nil
}

// BlockUsage is the utilisation of one block.
type BlockUsage struct {
	CIDR     netip.Prefix
	Affinity string
	Size     int
	InUse    int
	// Borrowed lists allocations made for a node other than the block's.
	Borrowed []Allocation
}

// PoolUsage is the utilisation of one pool.
type PoolUsage struct {
	Pool   Pool
	Size   *big.Int
	InUse  int
	Blocks []BlockUsage
}

// Usage computes per-pool and per-block utilisation. Blocks outside every pool are
// reported under a pool with an empty name.
func Usage(s Snapshot, pools []Pool) []PoolUsage {
	out := make([]PoolUsage, len(pools))
	for i, p := range pools {
		out[i] = PoolUsage{Pool: p, Size: new(big.Int).Lsh(big.NewInt(1), uint(p.CIDR.Addr().BitLen()-p.CIDR.Bits()))}
	}
	var orphans *PoolUsage
	for _, b := range s.Blocks {
		bu := BlockUsage{CIDR: b.CIDR, Affinity: b.Affinity, Size: len(b.Allocations), InUse: b.InUse()}
		for _, al := range b.Allocated() {
			if n := al.Attrs[AttrNode]; n != "" && n != b.Affinity {
				bu.Borrowed = append(bu.Borrowed, al)
			}
		}
		target := orphans
		for i := range out {
			if out[i].Pool.CIDR.Contains(b.CIDR.Addr()) {
				target = &out[i]
				break
			}
		}
		if target == nil {
			orphans = &PoolUsage{Size: new(big.Int)}
			target = orphans
		}
		target.InUse += bu.InUse
		target.Blocks = append(target.Blocks, bu)
	}
	if orphans != nil {
		out = append(out, *orphans)
	}
	return out
}

// Report is the result of Check.
type Report struct {
	// Leaked are allocations whose workload no longer exists.
	Leaked []Allocation `json:"leaked"`
	// OrphanBlocks are blocks affine to a node that no longer exists.
	OrphanBlocks []OrphanBlock `json:"orphanBlocks"`
	// DanglingHandles count allocations no block holds (a crash between the handle and
	// the block write); MissingHandles own allocations but have no handle record.
	DanglingHandles []string `json:"danglingHandles"`
	MissingHandles  []string `json:"missingHandles"`
}

// OrphanBlock is a block whose affine node is gone.
type OrphanBlock struct {
	CIDR  netip.Prefix `json:"cidr"`
	Node  string       `json:"node"`
	InUse int          `json:"inUse"`
}

// Check finds leaks in a snapshot: inUse says whether an allocation's workload still
// exists, nodeExists whether a node does.
func Check(s Snapshot, inUse func(Allocation) bool, nodeExists func(string) bool) Report {
	var r Report
	held := map[string]map[string]int{} // handle -> block -> count
	for _, b := range s.Blocks {
		if b.Affinity != "" && !nodeExists(b.Affinity) {
			r.OrphanBlocks = append(r.OrphanBlocks, OrphanBlock{CIDR: b.CIDR, Node: b.Affinity, InUse: b.InUse()})
		}
		for _, al := range b.Allocated() {
			if held[al.Handle] == nil {
				held[al.Handle] = map[string]int{}
			}
			held[al.Handle][b.Name]++
			if !inUse(al) {
				r.Leaked = append(r.Leaked, al)
			}
		}
	}
	recorded := map[string]bool{}
	for _, h := range s.Handles {
		recorded[h.Name] = true
		for blk, n := range h.Blocks {
			if held[h.Name][blk] < n {
				r.DanglingHandles = append(r.DanglingHandles, h.Name)
				break
			}
		}
	}
	for h := range held {
		if !recorded[h] {
			r.MissingHandles = append(r.MissingHandles, h)
		}
	}
	slices.Sort(r.DanglingHandles)
	slices.Sort(r.MissingHandles)
	return r
}
