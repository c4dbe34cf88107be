package memory

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/store"
)

// DefaultHistory is how many past events a Store keeps for Watch by default.
const DefaultHistory = 1000

// Store is the in-memory backend. The zero value is not usable; call New.
type Store struct {
	mu        sync.Mutex
	rev       int64
	objs      map[string]*entry
	log       []record // events with revision > compacted, in order
	compacted int64    // history at or before this revision is gone
	history   int
	notify    chan struct{} // closed and replaced on every change and on Close
	closed    bool
}

type entry struct {
	key  model.Key
	data []byte
	rev  int64
}

// record is one change in the event log.
type record struct {
	typ  store.EventType
	key  model.Key
	data []byte // the new state, or the last state for EventDeleted
	rev  int64  // revision of the change
	prev int64  // for EventDeleted: the revision of the last state
}

var _ store.Store = (*Store)(nil)

// New returns an empty store keeping history events for Watch (DefaultHistory if <= 0).
func New(history int) *Store {
	if history <= 0 {
		history = DefaultHistory
	}
	return &Store{objs: map[string]*entry{}, history: history, notify: make(chan struct{})}
}

func mapKey(k model.Key) string { return k.Kind.StorageName() + "/" + k.Namespace + "/" + k.Name }

func revString(r int64) string { return strconv.FormatInt(r, 10) }

// Get implements store.Store.
func (s *Store) Get(ctx context.Context, kind *model.Kind, namespace, name string) (model.Object, error) {
	key := model.Key{Kind: kind, Namespace: namespace, Name: name}
	if err := store.CheckKey("get", key); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.usable("get", key); err != nil {
		return nil, err
	}
	e, ok := s.objs[mapKey(key)]
	if !ok {
		return nil, fmt.Errorf("get %s: %w", key, store.ErrNotFound)
	}
	return store.Decode(kind, e.data, revString(e.rev))
}

// List implements store.Store.
func (s *Store) List(ctx context.Context, kind *model.Kind, opts store.ListOptions) (*store.ListResult, error) {
	if kind == nil {
		return nil, fmt.Errorf("list: nil kind")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.usable("list", model.Key{Kind: kind}); err != nil {
		return nil, err
	}
	res := &store.ListResult{Revision: revString(s.rev), Items: []model.Object{}}
	for _, e := range s.objs {
		if e.key.Kind != kind || (opts.Namespace != "" && e.key.Namespace != opts.Namespace) {
			continue
		}
		obj, err := store.Decode(kind, e.data, revString(e.rev))
		if err != nil {
			return nil, err
		}
		if opts.Labels != nil && !opts.Labels.Matches(labels.Set(obj.GetLabels())) {
			continue
		}
		res.Items = append(res.Items, obj)
	}
	store.SortObjects(res.Items)
	return res, nil
}

// Create implements store.Store.
func (s *Store) Create(ctx context.Context, obj model.Object) (model.Object, error) {
	key, out, data, err := store.NewRecord(obj, time.Now())
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.usable("create", key); err != nil {
		return nil, err
	}
	if _, ok := s.objs[mapKey(key)]; ok {
		return nil, fmt.Errorf("create %s: %w", key, store.ErrAlreadyExists)
	}
	rev := s.commit(record{typ: store.EventAdded, key: key, data: data})
	s.objs[mapKey(key)] = &entry{key: key, data: data, rev: rev}
	out.SetResourceVersion(revString(rev))
	return out, nil
}

// Update implements store.Store.
func (s *Store) Update(ctx context.Context, obj model.Object) (model.Object, error) {
	key, err := store.KeyOf("update", obj)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.usable("update", key); err != nil {
		return nil, err
	}
	e, ok := s.objs[mapKey(key)]
	if !ok {
		return nil, fmt.Errorf("update %s: %w", key, store.ErrNotFound)
	}
	if rv := obj.GetResourceVersion(); rv != "" && rv != revString(e.rev) {
		return nil, fmt.Errorf("update %s: resourceVersion %s is not the stored %d: %w", key, rv, e.rev, store.ErrConflict)
	}
	old, err := store.Decode(key.Kind, e.data, revString(e.rev))
	if err != nil {
		return nil, err
	}
	out, err := store.PrepareUpdate(key.Kind, old, obj)
	if err != nil {
		return nil, err
	}
	data, err := store.Encode(out)
	if err != nil {
		return nil, fmt.Errorf("update %s: %w", key, err)
	}
	rev := s.commit(record{typ: store.EventModified, key: key, data: data})
	e.data, e.rev = data, rev
	out.SetResourceVersion(revString(rev))
	return out, nil
}

// Delete implements store.Store.
func (s *Store) Delete(ctx context.Context, kind *model.Kind, namespace, name string, opts store.DeleteOptions) (model.Object, error) {
	key := model.Key{Kind: kind, Namespace: namespace, Name: name}
	if err := store.CheckKey("delete", key); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.usable("delete", key); err != nil {
		return nil, err
	}
	e, ok := s.objs[mapKey(key)]
	if !ok {
		return nil, fmt.Errorf("delete %s: %w", key, store.ErrNotFound)
	}
	old, err := store.Decode(kind, e.data, revString(e.rev))
	if err != nil {
		return nil, err
	}
	if err := checkDelete(key, old, e.rev, opts); err != nil {
		return nil, err
	}
	s.commit(record{typ: store.EventDeleted, key: key, data: e.data, prev: e.rev})
	delete(s.objs, mapKey(key))
	return old, nil
}

// commit assigns the next revision to r, appends it to the bounded log and wakes watchers.
// s.mu is held.
func (s *Store) commit(r record) int64 { return s.commitAll([]record{r}) }

// commitAll is commit of the records of one transaction: they share the next revision.
// The log is trimmed by whole revisions, so history never holds part of a transaction.
func (s *Store) commitAll(rs []record) int64 {
	s.rev++
	for _, r := range rs {
		r.rev = s.rev
		s.log = append(s.log, r)
	}
	if over := len(s.log) - s.history; over > 0 {
		for over < len(s.log) && s.log[over].rev == s.log[over-1].rev {
			over++
		}
		s.compacted = s.log[over-1].rev
		s.log = append([]record(nil), s.log[over:]...)
	}
	close(s.notify)
	s.notify = make(chan struct{})
	return s.rev
}

// Compact forgets all history up to the current revision, as an etcd compaction does: a
// Watch from an earlier revision then yields EventResync.
func (s *Store) Compact(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.compacted = s.rev
	s.log = nil
	return nil
}

// Close ends every watch with EventResync and makes later calls fail with ErrUnavailable.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		close(s.notify)
	}
	return nil
}

func (s *Store) usable(op string, key model.Key) error {
	if s.closed {
		return fmt.Errorf("%s %s: store closed: %w", op, key, store.ErrUnavailable)
	}
	return nil
}
