package ipam

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
)

// batch stages the writes of one request in memory: the blocks it changed and the handle
// counts to adjust. Allocator.commit then writes them as one Store.Commit, so that a
// request makes one write, and a lost race on any record writes nothing and is retried
// from fresh reads.
type batch struct {
	blocks  map[string]*Block         // every block read in this attempt, as changed so far
	changed []string                  // names of changed blocks, in the order first changed
	deltas  map[string]map[string]int // handle -> block -> allocations added (negative: freed)
}

func newBatch() *batch {
	return &batch{blocks: map[string]*Block{}, deltas: map[string]map[string]int{}}
}

// block returns the batch's copy of the named block, reading it on first use, so that a
// request sees its own staged changes.
func (b *batch) block(ctx context.Context, s Store, name string) (*Block, error) {
	if blk, ok := b.blocks[name]; ok {
		return blk, nil
	}
	blk, err := s.Blocks().Get(ctx, name)
	if err != nil {
		return nil, err
	}
	b.blocks[name] = blk // Get returned a copy this batch owns
	return blk, nil
}

// change records that the request changed block name and handle's count in it by delta
// (an allocation without a handle has no record to count it).
func (b *batch) change(name, handle string, delta int) {
	if !slices.Contains(b.changed, name) {
		b.changed = append(b.changed, name)
	}
	if handle == "" {
		return
	}
	if b.deltas[handle] == nil {
		b.deltas[handle] = map[string]int{}
	}
	b.deltas[handle][name] += delta
}

// commit writes a batch as one Store.Commit: the handle records first, then the changed
// blocks. handleAbsent says the request's handle is believed not to exist yet (a new
// container): it is then created without being read first; a wrong guess fails the commit
// with ErrAlreadyExists, and the retry reads it.
func (a *Allocator) commit(ctx context.Context, b *batch, handleAbsent bool) error {
	var ws []Write
	for _, h := range slices.Sorted(maps.Keys(b.deltas)) {
		w, ok, err := a.handleWrite(ctx, h, b.deltas[h], handleAbsent)
		if err != nil {
			return err
		}
		if ok {
			ws = append(ws, w)
		}
	}
	for _, name := range b.changed {
		ws = append(ws, Write{Op: WriteUpdate, Block: b.blocks[name]})
	}
	if len(ws) == 0 {
		return nil
	}
	return a.store.Commit(ctx, ws)
}

// handleWrite is the write that adds deltas to handle's record: a create if it does not
// exist, a delete if it ends up counting nothing, else an update guarded by the revision
// read. ok is false when there is nothing to write (frees from a handle already gone).
func (a *Allocator) handleWrite(ctx context.Context, handle string, deltas map[string]int, assumeAbsent bool) (Write, bool, error) {
	var h *Handle
	if !assumeAbsent {
		got, err := a.store.Handles().Get(ctx, handle)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return Write{}, false, fmt.Errorf("get handle %s: %w", handle, err)
		}
		h = got
	}
	op := WriteUpdate
	if h == nil {
		h, op = &Handle{Meta: Meta{Name: handle}}, WriteCreate
	}
	if h.Blocks == nil {
		h.Blocks = map[string]int{}
	}
	for block, d := range deltas {
		h.Blocks[block] += d
		if h.Blocks[block] <= 0 {
			delete(h.Blocks, block)
		}
	}
	switch {
	case len(h.Blocks) > 0:
		return Write{Op: op, Handle: h}, true, nil
	case op == WriteCreate:
		return Write{}, false, nil
	}
	return Write{Op: WriteDelete, Handle: h}, true, nil
}

// lostRace reports whether a Commit failed because another writer changed a record the
// request read: it is retried from fresh reads.
func lostRace(err error) bool {
	return errors.Is(err, ErrConflict) || errors.Is(err, ErrAlreadyExists) || errors.Is(err, ErrNotFound)
}
