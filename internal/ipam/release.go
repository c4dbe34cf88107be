package ipam

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
)

// ReleaseRequest releases one address. Handle, when set, must own it; Sequence, when set,
// must be the sequence number it was allocated with, so that a stale release never frees
// an address that was freed and handed out again meanwhile.
type ReleaseRequest struct {
	Addr     netip.Addr
	Handle   string
	Sequence *uint64
}

// ReleaseStatus says what happened to one address.
type ReleaseStatus string

// Release statuses.
const (
	StatusReleased      ReleaseStatus = "released"
	StatusNotAllocated  ReleaseStatus = "not-allocated"
	StatusWrongHandle   ReleaseStatus = "wrong-handle"
	StatusWrongSequence ReleaseStatus = "wrong-sequence"
)

// ReleaseOutcome is the result for one request.
type ReleaseOutcome struct {
	Addr   netip.Addr
	Status ReleaseStatus
	Handle string // the owner found, if any
}

var statusOf = map[releaseResult]ReleaseStatus{
	released: StatusReleased, notAllocated: StatusNotAllocated,
	wrongHandle: StatusWrongHandle, wrongSequence: StatusWrongSequence,
}

// Release frees addresses, one Commit per block touched (the block and its owners' handle
// records), and reports per address.
func (a *Allocator) Release(ctx context.Context, reqs []ReleaseRequest) ([]ReleaseOutcome, error) {
	blocks, err := a.store.Blocks().List(ctx)
	if err != nil {
		return nil, fmt.Errorf("release: list blocks: %w", err)
	}
	byBlock := map[string][]int{}
	out := make([]ReleaseOutcome, len(reqs))
	for i, r := range reqs {
		out[i] = ReleaseOutcome{Addr: r.Addr, Status: StatusNotAllocated}
		for _, b := range blocks {
			if b.CIDR.Contains(r.Addr) {
				byBlock[b.Name] = append(byBlock[b.Name], i)
				break
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(byBlock)) {
		if err := a.releaseInBlock(ctx, name, reqs, byBlock[name], out); err != nil {
			return out, err
		}
	}
	return out, nil
}

// releaseInBlock frees the requests idx, all in block name, and the handle counts of their
// owners in one Commit.
func (a *Allocator) releaseInBlock(ctx context.Context, name string, reqs []ReleaseRequest, idx []int, out []ReleaseOutcome) error {
	for attempt := range a.retries {
		if attempt > 0 {
			if err := a.backoff(ctx, attempt-1); err != nil {
				return fmt.Errorf("release in block %s: %w", name, err)
			}
		}
		b := newBatch()
		blk, err := b.block(ctx, a.store, name)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("release: get block %s: %w", name, err)
		}
		for _, i := range idx {
			owner, res := blk.release(reqs[i].Addr, reqs[i].Handle, reqs[i].Sequence)
			out[i].Status, out[i].Handle = statusOf[res], owner
			if res == released {
				b.change(name, owner, -1)
			}
		}
		err = a.commit(ctx, b, false)
		if err == nil {
			return nil
		}
		if !lostRace(err) {
			return fmt.Errorf("release: update block %s: %w", name, err)
		}
	}
	return fmt.Errorf("release in block %s: %w", name, ErrRetries)
}

// maxCommitWrites bounds the writes of one Commit (etcd refuses more than 128 by default).
const maxCommitWrites = 100

// ReleaseByHandle frees every address handle owns and deletes the handle, in one Commit
// (the blocks, then the handle record guarded by the revision read), and returns the
// addresses freed. A handle that does not exist is not an error (DEL is idempotent).
func (a *Allocator) ReleaseByHandle(ctx context.Context, handle string) ([]netip.Addr, error) {
	var freed []netip.Addr // by commits that succeeded, over all attempts
	for i := range a.retries {
		if i > 0 {
			if err := a.backoff(ctx, i-1); err != nil {
				return freed, fmt.Errorf("release handle %s: %w", handle, err)
			}
		}
		h, err := a.store.Handles().Get(ctx, handle)
		if errors.Is(err, ErrNotFound) {
			return freed, nil
		}
		if err != nil {
			return freed, fmt.Errorf("release handle %s: %w", handle, err)
		}
		ws, addrs, err := a.releaseHandleWrites(ctx, h)
		if err != nil {
			return freed, err
		}
		// A handle in more blocks than a Commit takes (never seen from CNI) frees them in
		// several, and so does a release that lost half its retries (a commit of several
		// blocks loses every race one of them would); the handle goes last, so a crash in
		// between leaves it counting addresses no block gives it (see Check).
		chunk := maxCommitWrites
		if i >= a.retries/2 || !a.atomic() {
			chunk = 1
		}
		for len(ws) > 0 && err == nil {
			n := min(chunk, len(ws))
			if err = a.store.Commit(ctx, ws[:n]); err == nil {
				freed = append(freed, slices.Concat(addrs[:n]...)...)
				ws, addrs = ws[n:], addrs[n:]
			}
		}
		if err == nil {
			return freed, nil
		}
		if !lostRace(err) {
			return freed, fmt.Errorf("release handle %s: %w", handle, err)
		}
	}
	return freed, fmt.Errorf("release handle %s: %w", handle, ErrRetries)
}

// releaseHandleWrites returns the writes that free every address of h in its blocks and
// then delete h, and per write the addresses it frees.
func (a *Allocator) releaseHandleWrites(ctx context.Context, h *Handle) ([]Write, [][]netip.Addr, error) {
	var ws []Write
	var freed [][]netip.Addr
	for _, name := range slices.Sorted(maps.Keys(h.Blocks)) {
		blk, err := a.store.Blocks().Get(ctx, name)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("release handle %s: get block %s: %w", h.Name, name, err)
		}
		addrs := blk.addrsOf(h.Name)
		if blk.releaseHandle(h.Name) > 0 {
			ws = append(ws, Write{Op: WriteUpdate, Block: blk})
			freed = append(freed, addrs)
		}
	}
	return append(ws, Write{Op: WriteDelete, Handle: h}), append(freed, nil), nil
}

// AddrsByHandle lists the addresses handle owns, sorted.
func (a *Allocator) AddrsByHandle(ctx context.Context, handle string) ([]Allocation, error) {
	h, err := a.store.Handles().Get(ctx, handle)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get handle %s: %w", handle, err)
	}
	var out []Allocation
	for _, name := range slices.Sorted(maps.Keys(h.Blocks)) {
		b, err := a.store.Blocks().Get(ctx, name)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("get block %s: %w", name, err)
		}
		for _, al := range b.Allocated() {
			if al.Handle == handle {
				out = append(out, al)
			}
		}
	}
	slices.SortFunc(out, func(x, y Allocation) int { return x.Addr.Compare(y.Addr) })
	return out, nil
}

// AssignIPArgs asks for one specific address (the ipAddrs annotation).
type AssignIPArgs struct {
	Addr   netip.Addr
	Node   string
	Handle string
	Attrs  map[string]string
	// Pools are every pool; the address must lie in one (a disabled pool is fine: it is
	// the usual home of fixed addresses). Reservations do not apply to fixed addresses.
	Pools []Pool
}

// AssignIP allocates args.Addr to args.Handle. A missing block is claimed for the node.
func (a *Allocator) AssignIP(ctx context.Context, args AssignIPArgs) (Allocation, error) {
	var pool *Pool
	for i := range args.Pools {
		if args.Pools[i].CIDR.Contains(args.Addr) {
			pool = &args.Pools[i]
			break
		}
	}
	if pool == nil {
		return Allocation{}, fmt.Errorf("assign %s: %w", args.Addr, ErrNoPool)
	}
	if args.Handle == "" {
		return Allocation{}, fmt.Errorf("assign %s: a handle is required", args.Addr)
	}
	cidr := blockOf(args.Addr, pool.blockBits())
	name := BlockName(cidr)
	for range a.retries {
		b := newBatch()
		blk, err := b.block(ctx, a.store, name)
		if errors.Is(err, ErrNotFound) {
			if _, err := a.claim(ctx, args.Node, cidr); err != nil {
				return Allocation{}, fmt.Errorf("assign %s: %w", args.Addr, err)
			}
			continue
		}
		if err != nil {
			return Allocation{}, fmt.Errorf("assign %s: get block %s: %w", args.Addr, name, err)
		}
		al, ok := blk.assignAddr(args.Addr, args.Handle, args.Attrs)
		if !ok {
			return Allocation{}, fmt.Errorf("assign %s: %w", args.Addr, ErrInUse)
		}
		b.change(name, args.Handle, 1)
		err = a.commit(ctx, b, false)
		if err == nil {
			return al, nil
		}
		if !lostRace(err) {
			return Allocation{}, fmt.Errorf("assign %s: update block %s: %w", args.Addr, name, err)
		}
	}
	return Allocation{}, fmt.Errorf("assign %s: %w", args.Addr, ErrRetries)
}

// DeleteHandleIfUnused deletes a handle record that no block holds an allocation for (a
// dangling handle left by a crash between the handle and the block write). It reports
// whether it deleted the handle.
func (a *Allocator) DeleteHandleIfUnused(ctx context.Context, handle string) (bool, error) {
	h, err := a.store.Handles().Get(ctx, handle)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("get handle %s: %w", handle, err)
	}
	for name := range h.Blocks {
		b, err := a.store.Blocks().Get(ctx, name)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return false, fmt.Errorf("get block %s: %w", name, err)
		}
		if len(b.addrsOf(handle)) > 0 {
			return false, nil
		}
	}
	if err := a.store.Handles().Delete(ctx, handle, h.Revision); err != nil {
		if errors.Is(err, ErrNotFound) || errors.Is(err, ErrConflict) {
			return false, nil
		}
		return false, fmt.Errorf("delete handle %s: %w", handle, err)
	}
	return true, nil
}
