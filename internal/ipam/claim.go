package ipam

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
)

// nodeAffinities lists the node's usable affinities sorted by block address, first
// completing or removing any pending one a crashed claim left behind.
func (a *Allocator) nodeAffinities(ctx context.Context, node string) ([]*Affinity, error) {
	all, err := a.store.Affinities().List(ctx)
	if err != nil {
		return nil, fmt.Errorf("list affinities: %w", err)
	}
	var out []*Affinity
	for _, af := range all {
		if af.Node != node {
			continue
		}
		switch af.State {
		case AffinityConfirmed:
			out = append(out, af)
		case AffinityPending, "":
			ok, err := a.claim(ctx, node, af.CIDR)
			if err != nil {
				return nil, err
			}
			if ok {
				af.State = AffinityConfirmed
				out = append(out, af)
			}
		}
	}
	slices.SortFunc(out, func(x, y *Affinity) int { return x.CIDR.Addr().Compare(y.CIDR.Addr()) })
	return out, nil
}

// claimNext claims the first free block in the node's candidate order over pools, and
// records it in existing.
func (a *Allocator) claimNext(ctx context.Context, node string, pools []Pool, existing map[netip.Prefix]bool) (netip.Prefix, error) {
	for _, p := range pools {
		bits := p.blockBits()
		n := blockCount(p.CIDR, bits)
		off := nodeOffset(node, n)
		for i := range n {
			cidr := nthBlock(p.CIDR, bits, (off+i)%n)
			if existing[cidr] {
				continue
			}
			ok, err := a.claim(ctx, node, cidr)
			if err != nil {
				return netip.Prefix{}, err
			}
			existing[cidr] = true
			if ok {
				return cidr, nil
			}
		}
	}
	return netip.Prefix{}, ErrExhausted
}

// claim makes block cidr affine to node, idempotently, in three steps: a pending affinity,
// the block (carrying the node), the affinity confirmed. It reports false, having removed
// its pending affinity, when the block belongs to another node or to none.
func (a *Allocator) claim(ctx context.Context, node string, cidr netip.Prefix) (bool, error) {
	affs := a.store.Affinities()
	name := AffinityName(node, cidr)
	af, err := affs.Create(ctx, &Affinity{Meta: Meta{Name: name}, Node: node, CIDR: cidr, State: AffinityPending})
	if errors.Is(err, ErrAlreadyExists) {
		af, err = affs.Get(ctx, name)
		if errors.Is(err, ErrNotFound) {
			// Removed in between by a claimer that found the block taken; so is it.
			return false, nil
		}
	}
	if err != nil {
		return false, fmt.Errorf("claim block %s for node %s: write affinity: %w", cidr, node, err)
	}
	if af.State == AffinityPendingDeletion {
		return false, nil
	}
	b, err := a.store.Blocks().Create(ctx, newBlock(cidr, node))
	if errors.Is(err, ErrAlreadyExists) {
		b, err = a.store.Blocks().Get(ctx, BlockName(cidr))
	}
	if err != nil && !errors.Is(err, ErrNotFound) {
		return false, fmt.Errorf("claim block %s for node %s: write block: %w", cidr, node, err)
	}
	if err != nil || b.Affinity != node {
		if af.State != AffinityConfirmed {
			if dErr := affs.Delete(ctx, name, af.Revision); dErr != nil && !errors.Is(dErr, ErrNotFound) && !errors.Is(dErr, ErrConflict) {
				return false, fmt.Errorf("claim block %s for node %s: remove pending affinity: %w", cidr, node, dErr)
			}
		}
		return false, nil
	}
	return true, a.confirm(ctx, af)
}

// confirm moves an affinity to confirmed (recreating it if a racing cleaner removed it).
func (a *Allocator) confirm(ctx context.Context, af *Affinity) error {
	affs := a.store.Affinities()
	for range a.retries {
		if af.State == AffinityConfirmed {
			return nil
		}
		c := *af
		c.State = AffinityConfirmed
		_, err := affs.Update(ctx, &c)
		if errors.Is(err, ErrNotFound) {
			c.Revision = ""
			_, err = affs.Create(ctx, &c)
			if errors.Is(err, ErrAlreadyExists) {
				err = ErrConflict
			}
		}
		if err == nil {
			return nil
		}
		if !errors.Is(err, ErrConflict) {
			return fmt.Errorf("confirm affinity %s: %w", af.Name, err)
		}
		af, err = affs.Get(ctx, af.Name)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return fmt.Errorf("confirm affinity %s: %w", af.Name, err)
		}
		if errors.Is(err, ErrNotFound) {
			af = &Affinity{Meta: Meta{Name: c.Name}, Node: c.Node, CIDR: c.CIDR, State: AffinityPending}
		}
	}
	return fmt.Errorf("confirm affinity %s: %w", af.Name, ErrRetries)
}

// ReleaseAffinity removes node's affinity to block cidr: the affinity goes to
// pendingDeletion, an empty block is deleted and a non-empty one kept without affinity
// (its addresses stay valid and can be borrowed), then the affinity is deleted.
func (a *Allocator) ReleaseAffinity(ctx context.Context, node string, cidr netip.Prefix) error {
	affs := a.store.Affinities()
	name := AffinityName(node, cidr)
	var af *Affinity
	for i := 0; ; i++ {
		if i == a.retries {
			return fmt.Errorf("release affinity %s: %w", name, ErrRetries)
		}
		cur, err := affs.Get(ctx, name)
		if errors.Is(err, ErrNotFound) {
			break
		}
		if err != nil {
			return fmt.Errorf("release affinity %s: %w", name, err)
		}
		cur.State = AffinityPendingDeletion
		af, err = affs.Update(ctx, cur)
		if err == nil {
			break
		}
		if !errors.Is(err, ErrConflict) {
			return fmt.Errorf("release affinity %s: %w", name, err)
		}
	}
	if err := a.unaffineBlock(ctx, node, cidr); err != nil {
		return err
	}
	if af != nil {
		if err := affs.Delete(ctx, name, af.Revision); err != nil && !errors.Is(err, ErrNotFound) {
			return fmt.Errorf("release affinity %s: delete: %w", name, err)
		}
	}
	return nil
}

// unaffineBlock deletes the block if empty, else clears its affinity, when it is affine to node.
func (a *Allocator) unaffineBlock(ctx context.Context, node string, cidr netip.Prefix) error {
	blocks := a.store.Blocks()
	name := BlockName(cidr)
	for range a.retries {
		b, err := blocks.Get(ctx, name)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("release block %s: %w", name, err)
		}
		if b.Affinity != node {
			return nil
		}
		if b.Empty() {
			err = blocks.Delete(ctx, name, b.Revision)
		} else {
			b.Affinity = ""
			_, err = blocks.Update(ctx, b)
		}
		if err == nil || errors.Is(err, ErrNotFound) {
			return nil
		}
		if !errors.Is(err, ErrConflict) {
			return fmt.Errorf("release block %s: %w", name, err)
		}
	}
	return fmt.Errorf("release block %s: %w", name, ErrRetries)
}
