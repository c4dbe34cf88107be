package ipam

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// DefaultRetries bounds every compare-and-swap loop.
const DefaultRetries = 50

// Allocator hands out and releases addresses. It holds no state of its own beyond its
// dependencies: everything lives in Store, so any number of allocators (processes) may
// work on the same store at once.
type Allocator struct {
	store   Store
	match   MatchFunc
	retries int
}

// New returns an allocator over s. match evaluates pool node and namespace selectors; nil
// accepts only the empty selector and "all()".
func New(s Store, match MatchFunc) *Allocator {
	if match == nil {
		match = trivialMatch
	}
	return &Allocator{store: s, match: match, retries: DefaultRetries}
}

func trivialMatch(sel string, _ map[string]string) (bool, error) {
	switch strings.TrimSpace(sel) {
	case "", "all()":
		return true, nil
	}
	return false, fmt.Errorf("selector %q: no selector evaluator configured", sel)
}

// AssignArgs is one automatic assignment request.
type AssignArgs struct {
	Node            string
	NodeLabels      map[string]string
	NamespaceLabels map[string]string
	// Handle owns the addresses (one per container); Attrs describe the owner.
	Handle string
	Attrs  map[string]string
	// Num4 and Num6 addresses of each family. Both are assigned or neither.
	Num4, Num6 int
	// Pools are every pool in the cluster; IPv4Pools and IPv6Pools optionally restrict the
	// choice to pools named or with that CIDR (from the NetConf or annotations).
	Pools     []Pool
	IPv4Pools []string
	IPv6Pools []string
	// Reserved addresses are never auto-assigned.
	Reserved []netip.Prefix
	Config   Config
	Use      string // UseWorkload if empty
}

// Result is what AutoAssign handed out.
type Result struct {
	IPv4 []Allocation
	IPv6 []Allocation
}

// Addrs lists every assigned address, IPv4 first.
func (r Result) Addrs() []netip.Addr {
	var out []netip.Addr
	for _, a := range append(slices.Clone(r.IPv4), r.IPv6...) {
		out = append(out, a.Addr)
	}
	return out
}

// AutoAssign assigns the requested numbers of addresses to args.Handle. The allocation
// (the handle record and every block it takes addresses from, both families) is planned
// from reads and written as one Store.Commit; a lost race writes nothing and plans again.
// On any failure nothing stays allocated by this call.
//
// A commit of two blocks loses every race either block would lose, so under heavy
// contention on a node's blocks a dual-stack request that lost half its retries falls
// back to one commit per family (as two single-family requests of the same handle, the
// first rolled back if the second fails): two writes instead of one, but no starvation.
func (a *Allocator) AutoAssign(ctx context.Context, args AssignArgs) (Result, error) {
	if args.Handle == "" || args.Node == "" {
		return Result{}, errors.New("auto-assign: handle and node are required")
	}
	if args.Use == "" {
		args.Use = UseWorkload
	}
	if args.Num4 == 0 || args.Num6 == 0 {
		return a.assignCommitted(ctx, args, a.retries)
	}
	if a.atomic() {
		res, err := a.assignCommitted(ctx, args, a.retries/2)
		if !errors.Is(err, ErrRetries) {
			return res, err
		}
	}
	v4, v6 := args, args
	v4.Num6, v6.Num4 = 0, 0
	res, err := a.assignCommitted(ctx, v4, a.retries)
	if err != nil {
		return Result{}, err
	}
	r6, err := a.assignCommitted(ctx, v6, a.retries)
	if err != nil {
		return Result{}, errors.Join(err, a.rollback(ctx, res.IPv4))
	}
	res.IPv6 = r6.IPv6
	return res, nil
}

// assignCommitted plans args and commits the plan in one Store.Commit, planning again
// after a lost race, at most retries times.
func (a *Allocator) assignCommitted(ctx context.Context, args AssignArgs, retries int) (Result, error) {
	call := &assignCall{}
	// The handle usually does not exist yet: create it unread until a commit says otherwise
	// (only the handle's create can fail with ErrAlreadyExists).
	absent := true
	for attempt := range retries {
		if attempt > 0 {
			if err := a.backoff(ctx, attempt-1); err != nil {
				return Result{}, fmt.Errorf("auto-assign for handle %s on node %s: %w", args.Handle, args.Node, err)
			}
		}
		call.batch = newBatch()
		res, err := a.planAssign(ctx, args, call)
		if err != nil {
			return Result{}, err
		}
		err = a.commit(ctx, call.batch, absent)
		if err == nil {
			return res, nil
		}
		if !lostRace(err) {
			return Result{}, fmt.Errorf("auto-assign for handle %s on node %s: %w", args.Handle, args.Node, err)
		}
		absent = absent && !errors.Is(err, ErrAlreadyExists)
	}
	return Result{}, fmt.Errorf("auto-assign for handle %s on node %s: %w", args.Handle, args.Node, ErrRetries)
}

// backoff waits before retry attempt when the store asks for it (Backoff).
func (a *Allocator) backoff(ctx context.Context, attempt int) error {
	if b, ok := a.store.(Backoff); ok {
		return b.Backoff(ctx, attempt)
	}
	return nil
}

// rollback releases allocations made by this process, matching handle and sequence.
func (a *Allocator) rollback(ctx context.Context, allocs []Allocation) error {
	if len(allocs) == 0 {
		return nil
	}
	reqs := make([]ReleaseRequest, len(allocs))
	for i, al := range allocs {
		seq := al.Sequence
		reqs[i] = ReleaseRequest{Addr: al.Addr, Handle: al.Handle, Sequence: &seq}
	}
	if _, err := a.Release(ctx, reqs); err != nil {
		return fmt.Errorf("roll back: %w", err)
	}
	return nil
}

// planAssign stages the addresses of both families in call.batch. It writes nothing but
// the blocks it claims for the node (a claim stands on its own).
func (a *Allocator) planAssign(ctx context.Context, args AssignArgs, call *assignCall) (Result, error) {
	var res Result
	var err error
	if args.Num4 > 0 {
		res.IPv4, err = a.assignFamily(ctx, args, call, true, args.Num4)
		if err != nil {
			return Result{}, fmt.Errorf("auto-assign %d IPv4 for handle %s on node %s: %w", args.Num4, args.Handle, args.Node, err)
		}
	}
	if args.Num6 > 0 {
		res.IPv6, err = a.assignFamily(ctx, args, call, false, args.Num6)
		if err != nil {
			return Result{}, fmt.Errorf("auto-assign %d IPv6 for handle %s on node %s: %w", args.Num6, args.Handle, args.Node, err)
		}
	}
	return res, nil
}

// eligiblePools returns, in order of preference, the pools of one family the request may
// auto-assign from.
func (a *Allocator) eligiblePools(args AssignArgs, v4 bool) ([]Pool, error) {
	requested := args.IPv4Pools
	if !v4 {
		requested = args.IPv6Pools
	}
	var cands []Pool
	if len(requested) > 0 {
		for _, r := range requested {
			p, ok := findPool(args.Pools, r)
			if !ok {
				return nil, fmt.Errorf("requested pool %q: %w", r, ErrNoPool)
			}
			if p.CIDR.Addr().Is4() != v4 {
				return nil, fmt.Errorf("requested pool %q has the wrong IP family: %w", r, ErrNoPool)
			}
			if p.Disabled {
				return nil, fmt.Errorf("requested pool %q is disabled: %w", r, ErrNoPool)
			}
			cands = append(cands, p)
		}
	} else {
		for _, p := range args.Pools {
			if p.CIDR.Addr().Is4() == v4 && !p.Disabled && !p.Manual {
				cands = append(cands, p)
			}
		}
		slices.SortFunc(cands, func(x, y Pool) int { return strings.Compare(x.Name, y.Name) })
	}
	var out []Pool
	for _, p := range cands {
		if !p.allows(args.Use) {
			continue
		}
		if ok, err := a.match(p.NodeSelector, args.NodeLabels); err != nil || !ok {
			continue
		}
		if ok, err := a.match(p.NamespaceSelector, args.NamespaceLabels); err != nil || !ok {
			continue
		}
		out = append(out, p)
	}
	return out, nil
}

// findPool finds a pool by name or CIDR.
func findPool(pools []Pool, ref string) (Pool, bool) {
	cidr, cidrErr := netip.ParsePrefix(ref)
	for _, p := range pools {
		if p.Name == ref || (cidrErr == nil && p.CIDR.Masked() == cidr.Masked()) {
			return p, true
		}
	}
	return Pool{}, false
}

func inPools(pools []Pool, cidr netip.Prefix) bool {
	for _, p := range pools {
		if p.CIDR.Contains(cidr.Addr()) && p.blockBits() == cidr.Bits() {
			return true
		}
	}
	return false
}

func reservedFunc(res []netip.Prefix) func(netip.Addr) bool {
	if len(res) == 0 {
		return nil
	}
	return func(a netip.Addr) bool {
		for _, r := range res {
			if r.Contains(a) {
				return true
			}
		}
		return false
	}
}

// assignCall is what one AutoAssign carries from one family to the next and from one
// attempt to the next: the node's affinities, listed once, and the batch of the attempt.
type assignCall struct {
	batch  *batch
	affs   []*Affinity // the node's usable affinities, listed once, plus blocks claimed since
	listed bool
}

// listAffinities lists the node's affinities into call, once per request.
func (a *Allocator) listAffinities(ctx context.Context, call *assignCall, node string) error {
	if call.listed {
		return nil
	}
	affs, err := a.nodeAffinities(ctx, node)
	if err != nil {
		return err
	}
	call.affs, call.listed = affs, true
	return nil
}

// assignFamily assigns n addresses of one family: from the node's affine blocks, then from
// newly claimed blocks, then (without strict affinity) borrowed from other blocks. Only
// when the affine blocks do not suffice does it list the blocks.
func (a *Allocator) assignFamily(ctx context.Context, args AssignArgs, call *assignCall, v4 bool, n int) ([]Allocation, error) {
	pools, err := a.eligiblePools(args, v4)
	if err != nil {
		return nil, err
	}
	if len(pools) == 0 {
		return nil, fmt.Errorf("no enabled pool matches node %s: %w", args.Node, ErrExhausted)
	}
	skip := reservedFunc(args.Reserved)
	var got []Allocation
	take := func(name string, want func(*Block) bool) error {
		allocs, err := a.assignFromBlock(ctx, call.batch, name, n-len(got), args.Handle, args.Attrs, skip, want)
		got = append(got, allocs...)
		return err
	}
	affine := func(b *Block) bool { return b.Affinity == args.Node }

	// 1. Blocks already affine to the node.
	if err := a.listAffinities(ctx, call, args.Node); err != nil {
		return nil, err
	}
	for _, af := range call.affs {
		if len(got) == n {
			return got, nil
		}
		if !inPools(pools, af.CIDR) {
			continue
		}
		if err := take(BlockName(af.CIDR), affine); err != nil {
			return nil, err
		}
	}
	if len(got) == n {
		return got, nil
	}
	// 2. New blocks, up to the per-node limit.
	blocks, err := a.store.Blocks().List(ctx)
	if err != nil {
		return nil, fmt.Errorf("list blocks: %w", err)
	}
	existing := map[netip.Prefix]bool{}
	for _, b := range blocks {
		existing[b.CIDR] = true
	}
	for len(got) < n && (args.Config.MaxBlocksPerHost == 0 || len(call.affs) < args.Config.MaxBlocksPerHost) {
		cidr, err := a.claimNext(ctx, args.Node, pools, existing)
		if errors.Is(err, ErrExhausted) {
			break
		}
		if err != nil {
			return nil, err
		}
		call.affs = append(call.affs, &Affinity{Meta: Meta{Name: AffinityName(args.Node, cidr)}, Node: args.Node, CIDR: cidr, State: AffinityConfirmed})
		if err := take(BlockName(cidr), affine); err != nil {
			return nil, err
		}
	}
	// 3. Borrow from any other block in the eligible pools.
	if len(got) < n && !args.Config.StrictAffinity {
		slices.SortFunc(blocks, func(x, y *Block) int { return x.CIDR.Addr().Compare(y.CIDR.Addr()) })
		for _, b := range blocks {
			if len(got) == n {
				break
			}
			if b.Affinity == args.Node || !inPools(pools, b.CIDR) {
				continue
			}
			if err := take(b.Name, func(*Block) bool { return true }); err != nil {
				return nil, err
			}
		}
	}
	if len(got) < n {
		return nil, fmt.Errorf("got %d of %d: %w", len(got), n, ErrExhausted)
	}
	return got, nil
}

// assignFromBlock stages up to n addresses from the named block while want(block) holds.
func (a *Allocator) assignFromBlock(ctx context.Context, b *batch, name string, n int, handle string, attrs map[string]string,
	skip func(netip.Addr) bool, want func(*Block) bool) ([]Allocation, error) {
	blk, err := b.block(ctx, a.store, name)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get block %s: %w", name, err)
	}
	if !want(blk) || blk.Free() == 0 {
		return nil, nil
	}
	allocs := blk.assign(n, handle, attrs, skip)
	if len(allocs) > 0 {
		b.change(name, handle, len(allocs))
	}
	return allocs, nil
}

// nonAtomic is implemented by a Store whose Commit is not all-or-nothing across records
// (ipamstore over the Kubernetes API: ordered writes undone on failure as far as other
// writers let them be). A commit there touches one block at most, so that an undo never
// has to take back a block write that another writer has since built on.
type nonAtomic interface {
	NonAtomic() bool
}

func (a *Allocator) atomic() bool {
	n, ok := a.store.(nonAtomic)
	return !ok || !n.NonAtomic()
}
