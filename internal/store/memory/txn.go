package memory

import (
	"context"
	"fmt"
	"time"

	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/store"
)

// Apply implements store.Store: every op is checked against the state before the
// transaction, then all are committed under one revision.
func (s *Store) Apply(ctx context.Context, ops []store.Op) ([]model.Object, error) {
	keys, err := store.OpKeys(ops)
	if err != nil || len(ops) == 0 {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.usable("apply", keys[0]); err != nil {
		return nil, err
	}
	out := make([]model.Object, len(ops))
	recs := make([]record, len(ops))
	now := time.Now()
	for i, op := range ops {
		var err error
		out[i], recs[i], err = s.prepare(op, keys[i], now)
		if err != nil {
			return nil, &store.OpError{Index: i, Err: err}
		}
	}
	rev := s.commitAll(recs)
	for i, r := range recs {
		if r.typ == store.EventDeleted {
			delete(s.objs, mapKey(r.key))
			continue
		}
		s.objs[mapKey(r.key)] = &entry{key: r.key, data: r.data, rev: rev}
		out[i].SetResourceVersion(revString(rev))
	}
	return out, nil
}

// prepare checks one op against the stored state and returns what it will return and the
// record it will commit. s.mu is held.
func (s *Store) prepare(op store.Op, key model.Key, now time.Time) (model.Object, record, error) {
	e, exists := s.objs[mapKey(key)]
	if op.Type == store.OpCreate {
		if exists {
			return nil, record{}, fmt.Errorf("create %s: %w", key, store.ErrAlreadyExists)
		}
		_, out, data, err := store.NewRecord(op.Object, now)
		return out, record{typ: store.EventAdded, key: key, data: data}, err
	}
	if !exists {
		return nil, record{}, fmt.Errorf("%s %s: %w", op.Type, key, store.ErrNotFound)
	}
	old, err := store.Decode(key.Kind, e.data, revString(e.rev))
	if err != nil {
		return nil, record{}, err
	}
	if op.Type == store.OpDelete {
		if err := checkDelete(key, old, e.rev, op.Preconditions); err != nil {
			return nil, record{}, err
		}
		return old, record{typ: store.EventDeleted, key: key, data: e.data, prev: e.rev}, nil
	}
	if rv := op.Object.GetResourceVersion(); rv != "" && rv != revString(e.rev) {
		return nil, record{}, fmt.Errorf("update %s: resourceVersion %s is not the stored %d: %w", key, rv, e.rev, store.ErrConflict)
	}
	out, err := store.PrepareUpdate(key.Kind, old, op.Object)
	if err != nil {
		return nil, record{}, err
	}
	data, err := store.Encode(out)
	if err != nil {
		return nil, record{}, fmt.Errorf("update %s: %w", key, err)
	}
	return out, record{typ: store.EventModified, key: key, data: data}, nil
}

// checkDelete checks Delete's preconditions against the stored state old at rev.
func checkDelete(key model.Key, old model.Object, rev int64, opts store.DeleteOptions) error {
	if opts.ResourceVersion != "" && opts.ResourceVersion != revString(rev) {
		return fmt.Errorf("delete %s: precondition resourceVersion %s is not the stored %d: %w", key, opts.ResourceVersion, rev, store.ErrConflict)
	}
	if opts.UID != "" && opts.UID != string(old.GetUID()) {
		return fmt.Errorf("delete %s: precondition uid %s is not the stored %s: %w", key, opts.UID, old.GetUID(), store.ErrConflict)
	}
	return nil
}
