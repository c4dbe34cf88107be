package ipam

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"
)

// MemStore is an in-memory Store for tests and benchmarks. It is safe for concurrent use.
type MemStore struct {
	mu       sync.Mutex
	rev      uint64
	blocks   *memTable[*Block]
	affs     *memTable[*Affinity]
	handles  *memTable[*Handle]
	failHook func(op, table, name string) error
}

// NewMemStore returns an empty MemStore.
func NewMemStore() *MemStore {
	m := &MemStore{}
	m.blocks = &memTable[*Block]{m: m, table: "blocks", rows: map[string]*Block{},
		meta: func(b *Block) *Meta { return &b.Meta }, clone: (*Block).Clone}
	m.affs = &memTable[*Affinity]{m: m, table: "affinities", rows: map[string]*Affinity{},
		meta:  func(a *Affinity) *Meta { return &a.Meta },
		clone: func(a *Affinity) *Affinity { c := *a; return &c }}
	m.handles = &memTable[*Handle]{m: m, table: "handles", rows: map[string]*Handle{},
		meta: func(h *Handle) *Meta { return &h.Meta },
		clone: func(h *Handle) *Handle {
			c := *h
			c.Blocks = maps.Clone(h.Blocks)
			return &c
		}}
	return m
}

// Blocks implements Store.
func (m *MemStore) Blocks() Table[*Block] { return m.blocks }

// Affinities implements Store.
func (m *MemStore) Affinities() Table[*Affinity] { return m.affs }

// Handles implements Store.
func (m *MemStore) Handles() Table[*Handle] { return m.handles }

// SetFailHook makes every write first call hook(op, table, name) and fail with its error
// if it returns one: op is "create", "update" or "delete". Tests use it to simulate a
// process dying between two writes. nil removes the hook.
func (m *MemStore) SetFailHook(hook func(op, table, name string) error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.failHook = hook
}

type memTable[T any] struct {
	m     *MemStore
	table string
	rows  map[string]T
	meta  func(T) *Meta
	clone func(T) T
}

func (t *memTable[T]) hook(op, name string) error {
	if t.m.failHook == nil {
		return nil
	}
	return t.m.failHook(op, t.table, name)
}

func (t *memTable[T]) Get(_ context.Context, name string) (T, error) {
	t.m.mu.Lock()
	defer t.m.mu.Unlock()
	v, ok := t.rows[name]
	if !ok {
		var zero T
		return zero, fmt.Errorf("get %s %s: %w", t.table, name, ErrNotFound)
	}
	return t.clone(v), nil
}

func (t *memTable[T]) List(context.Context) ([]T, error) {
	t.m.mu.Lock()
	defer t.m.mu.Unlock()
	out := make([]T, 0, len(t.rows))
	for _, k := range slices.Sorted(maps.Keys(t.rows)) {
		out = append(out, t.clone(t.rows[k]))
	}
	return out, nil
}

func (t *memTable[T]) Create(_ context.Context, v T) (T, error) {
	t.m.mu.Lock()
	defer t.m.mu.Unlock()
	var zero T
	name := t.meta(v).Name
	if err := t.hook("create", name); err != nil {
		return zero, err
	}
	if _, ok := t.rows[name]; ok {
		return zero, fmt.Errorf("create %s %s: %w", t.table, name, ErrAlreadyExists)
	}
	return t.put(name, v), nil
}

func (t *memTable[T]) Update(_ context.Context, v T) (T, error) {
	t.m.mu.Lock()
	defer t.m.mu.Unlock()
	var zero T
	name := t.meta(v).Name
	if err := t.hook("update", name); err != nil {
		return zero, err
	}
	cur, ok := t.rows[name]
	if !ok {
		return zero, fmt.Errorf("update %s %s: %w", t.table, name, ErrNotFound)
	}
	if r := t.meta(v).Revision; r != "" && r != t.meta(cur).Revision {
		return zero, fmt.Errorf("update %s %s: %w", t.table, name, ErrConflict)
	}
	return t.put(name, v), nil
}

func (t *memTable[T]) put(name string, v T) T {
	t.m.rev++
	c := t.clone(v)
	t.meta(c).Revision = strconv.FormatUint(t.m.rev, 10)
	t.rows[name] = c
	return t.clone(c)
}

func (t *memTable[T]) Delete(_ context.Context, name, revision string) error {
	t.m.mu.Lock()
	defer t.m.mu.Unlock()
	if err := t.hook("delete", name); err != nil {
		return err
	}
	cur, ok := t.rows[name]
	if !ok {
		return fmt.Errorf("delete %s %s: %w", t.table, name, ErrNotFound)
	}
	if revision != "" && revision != t.meta(cur).Revision {
		return fmt.Errorf("delete %s %s: %w", t.table, name, ErrConflict)
	}
	delete(t.rows, name)
	return nil
}

// Commit implements Store: the fail hook and every precondition are checked before
// anything is written.
func (m *MemStore) Commit(_ context.Context, ws []Write) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, w := range ws {
		if err := m.check(w); err != nil {
			return err
		}
	}
	for _, w := range ws {
		if w.Block != nil {
			m.blocks.apply(w.Op, w.Block)
		} else {
			m.handles.apply(w.Op, w.Handle)
		}
	}
	return nil
}

func (m *MemStore) check(w Write) error {
	if (w.Block == nil) == (w.Handle == nil) {
		return fmt.Errorf("commit: a write needs exactly one of block and handle")
	}
	if w.Block != nil {
		return m.blocks.check(w.Op, w.Block)
	}
	return m.handles.check(w.Op, w.Handle)
}

// check is the precondition of one write of v, with its fail hook. m.mu is held.
func (t *memTable[T]) check(op WriteOp, v T) error {
	name := t.meta(v).Name
	verb := map[WriteOp]string{WriteCreate: "create", WriteUpdate: "update", WriteDelete: "delete"}[op]
	if err := t.hook(verb, name); err != nil {
		return err
	}
	cur, ok := t.rows[name]
	switch {
	case op == WriteCreate && ok:
		return fmt.Errorf("create %s %s: %w", t.table, name, ErrAlreadyExists)
	case op == WriteCreate:
		return nil
	case !ok:
		return fmt.Errorf("%s %s %s: %w", verb, t.table, name, ErrNotFound)
	case t.meta(v).Revision != "" && t.meta(v).Revision != t.meta(cur).Revision:
		return fmt.Errorf("%s %s %s: %w", verb, t.table, name, ErrConflict)
	}
	return nil
}

// apply makes one checked write. m.mu is held.
func (t *memTable[T]) apply(op WriteOp, v T) {
	if op == WriteDelete {
		delete(t.rows, t.meta(v).Name)
		return
	}
	t.put(t.meta(v).Name, v)
}
