package ipam

import (
	"context"
	"errors"
	"fmt"
	"maps"
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

// AutoAssign assigns the requested numbers of addresses to args.Handle. On any failure
// nothing stays allocated by this call.
func (a *Allocator) AutoAssign(ctx context.Context, args AssignArgs) (Result, error) {
	if args.Handle == "" || args.Node == "" {
		return Result{}, errors.New("auto-assign: handle and node are required")
	}
	if args.Use == "" {
		args.Use = UseWorkload
	}
	var res Result
	var err error
	// The handle usually does not exist yet: try creating it before reading it.
	call := &assignCall{handle: handleHint{absent: true}}
	if args.Num4 > 0 {
		res.IPv4, err = a.assignFamily(ctx, args, call, true, args.Num4)
		if err != nil {
			return Result{}, fmt.Errorf("auto-assign %d IPv4 for handle %s on node %s: %w", args.Num4, args.Handle, args.Node, err)
		}
	}
	if args.Num6 > 0 {
		res.IPv6, err = a.assignFamily(ctx, args, call, false, args.Num6)
		if err != nil {
			rbErr := a.rollback(ctx, res.IPv4)
			return Result{}, errors.Join(fmt.Errorf("auto-assign %d IPv6 for handle %s on node %s: %w", args.Num6, args.Handle, args.Node, err), rbErr)
		}
	}
	return res, nil
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
	_, err := a.Release(ctx, reqs)
	if err != nil {
		return fmt.Errorf("roll back: %w", err)
	}
	return nil
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

// assignCall is what one AutoAssign carries from one family to the next, so that a dual
// stack assignment reads the node's affinities once and the handle record not at all.
type assignCall struct {
	handle handleHint
	affs   []*Affinity // the node's usable affinities, listed once, plus blocks claimed since
	listed bool
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
	fail := func(err error) ([]Allocation, error) {
		return nil, errors.Join(err, a.rollback(ctx, got))
	}
	take := func(name string, want func(*Block) bool) error {
		allocs, err := a.assignFromBlock(ctx, name, n-len(got), args.Handle, &call.handle, args.Attrs, skip, want)
		got = append(got, allocs...)
		return err
	}
	affine := func(b *Block) bool { return b.Affinity == args.Node }

	// 1. Blocks already affine to the node.
	if !call.listed {
		affs, err := a.nodeAffinities(ctx, args.Node)
		if err != nil {
			return fail(err)
		}
		call.affs, call.listed = affs, true
	}
	for _, af := range call.affs {
		if len(got) == n {
			return got, nil
		}
		if !inPools(pools, af.CIDR) {
			continue
		}
		if err := take(BlockName(af.CIDR), affine); err != nil {
			return fail(err)
		}
	}
	if len(got) == n {
		return got, nil
	}
	// 2. New blocks, up to the per-node limit.
	blocks, err := a.store.Blocks().List(ctx)
	if err != nil {
		return fail(fmt.Errorf("list blocks: %w", err))
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
			return fail(err)
		}
		call.affs = append(call.affs, &Affinity{Meta: Meta{Name: AffinityName(args.Node, cidr)}, Node: args.Node, CIDR: cidr, State: AffinityConfirmed})
		if err := take(BlockName(cidr), affine); err != nil {
			return fail(err)
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
				return fail(err)
			}
		}
	}
	if len(got) < n {
		return fail(fmt.Errorf("got %d of %d: %w", len(got), n, ErrExhausted))
	}
	return got, nil
}

// assignFromBlock takes up to n addresses from the named block while want(block) holds.
func (a *Allocator) assignFromBlock(ctx context.Context, name string, n int, handle string, hint *handleHint, attrs map[string]string,
	skip func(netip.Addr) bool, want func(*Block) bool) ([]Allocation, error) {
	for range a.retries {
		b, err := a.store.Blocks().Get(ctx, name)
		if errors.Is(err, ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("get block %s: %w", name, err)
		}
		if !want(b) || b.Free() == 0 {
			return nil, nil
		}
		c := b // Get returned a copy this call owns
		allocs := c.assign(n, handle, attrs, skip)
		if len(allocs) == 0 {
			return nil, nil
		}
		if err := a.adjustHandle(ctx, hint, handle, name, len(allocs)); err != nil {
			return nil, err
		}
		_, err = a.store.Blocks().Update(ctx, c)
		if err == nil {
			return allocs, nil
		}
		if dErr := a.adjustHandle(ctx, hint, handle, name, -len(allocs)); dErr != nil {
			return nil, errors.Join(fmt.Errorf("update block %s: %w", name, err), dErr)
		}
		if !errors.Is(err, ErrConflict) && !errors.Is(err, ErrNotFound) {
			return nil, fmt.Errorf("update block %s: %w", name, err)
		}
	}
	return nil, fmt.Errorf("assign from block %s: %w", name, ErrRetries)
}

// handleHint is what one call last knew of a handle record, so that a call writing the
// same handle several times (dual stack) need not read it back first. It is a guess only:
// every write stays guarded, and a wrong guess costs one failed write and the read.
type handleHint struct {
	h      *Handle // the state this call last wrote; nil if none
	absent bool    // believed not to exist yet: try Create before Get
}

// guess returns the hinted state to start from (a copy the caller may change), with
// ErrNotFound when the handle is believed absent, or false when there is no hint.
func (hint *handleHint) guess() (*Handle, bool, error) {
	switch {
	case hint == nil:
		return nil, false, nil
	case hint.h != nil:
		c := *hint.h
		c.Blocks = maps.Clone(hint.h.Blocks)
		if c.Blocks == nil {
			c.Blocks = map[string]int{}
		}
		return &c, true, nil
	case hint.absent:
		return nil, true, ErrNotFound
	}
	return nil, false, nil
}

func (hint *handleHint) set(h *Handle) {
	if hint != nil {
		hint.h, hint.absent = h, h == nil
	}
}

// adjustHandle adds delta allocations in block to handle's record, creating it on first use
// and deleting it when it counts nothing. hint, if not nil, is used for the first attempt
// and updated with what was written.
func (a *Allocator) adjustHandle(ctx context.Context, hint *handleHint, handle, block string, delta int) error {
	t := a.store.Handles()
	for i := range a.retries {
		h, hinted, err := hint.guess()
		if i > 0 || !hinted {
			h, err = t.Get(ctx, handle)
		}
		if errors.Is(err, ErrNotFound) {
			if delta < 0 {
				hint.set(nil)
				return nil
			}
			created, err := t.Create(ctx, &Handle{Meta: Meta{Name: handle}, Blocks: map[string]int{block: delta}})
			if err == nil {
				hint.set(created)
				return nil
			}
			if errors.Is(err, ErrAlreadyExists) {
				continue
			}
			return fmt.Errorf("create handle %s: %w", handle, err)
		}
		if err != nil {
			return fmt.Errorf("get handle %s: %w", handle, err)
		}
		if h.Blocks == nil {
			h.Blocks = map[string]int{}
		}
		h.Blocks[block] += delta
		if h.Blocks[block] <= 0 {
			delete(h.Blocks, block)
		}
		var written *Handle
		if len(h.Blocks) == 0 {
			err = t.Delete(ctx, handle, h.Revision)
		} else {
			written, err = t.Update(ctx, h)
		}
		if err == nil || (errors.Is(err, ErrNotFound) && delta < 0) {
			hint.set(written)
			return nil
		}
		if !errors.Is(err, ErrConflict) && !errors.Is(err, ErrNotFound) {
			return fmt.Errorf("update handle %s: %w", handle, err)
		}
	}
	return fmt.Errorf("update handle %s: %w", handle, ErrRetries)
}
