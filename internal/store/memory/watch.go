package memory

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"sync"

	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/store"
)

// Watch implements store.Store. Each watch has its own goroutine reading the shared log, so
// a slow consumer never blocks writers; one that falls behind the bounded history gets
// EventResync.
func (s *Store) Watch(ctx context.Context, kind *model.Kind, opts store.WatchOptions) (store.Watch, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.usable("watch", model.Key{Kind: kindOrAll(kind)}); err != nil {
		return nil, err
	}
	pos := s.rev
	if opts.Revision != "" {
		r, err := strconv.ParseInt(opts.Revision, 10, 64)
		if err != nil || r < 0 {
			return nil, fmt.Errorf("watch %s: invalid revision %q", kindOrAll(kind).Kind, opts.Revision)
		}
		pos = r
	}
	ctx, cancel := context.WithCancel(ctx)
	w := &watch{events: make(chan store.Event), cancel: cancel}
	go w.run(ctx, s, kind, opts.Namespace, pos)
	return w, nil
}

func kindOrAll(k *model.Kind) *model.Kind {
	if k == nil {
		return &model.Kind{Kind: "all kinds"}
	}
	return k
}

type watch struct {
	events chan store.Event
	cancel context.CancelFunc
	once   sync.Once
}

func (w *watch) Events() <-chan store.Event { return w.events }
func (w *watch) Stop()                      { w.once.Do(w.cancel) }

// run delivers events after pos until ctx ends, the store closes or history is lost.
func (w *watch) run(ctx context.Context, s *Store, kind *model.Kind, namespace string, pos int64) {
	defer close(w.events)
	defer w.cancel()
	for {
		s.mu.Lock()
		closed, compacted, wake := s.closed, s.compacted, s.notify
		var batch []record
		if pos >= compacted {
			i := sort.Search(len(s.log), func(i int) bool { return s.log[i].rev > pos })
			batch = append(batch, s.log[i:]...)
		}
		s.mu.Unlock()
		switch {
		case closed:
			w.send(ctx, store.Event{Type: store.EventResync, Err: fmt.Errorf("watch: store closed: %w", store.ErrUnavailable)})
			return
		case pos < compacted:
			w.send(ctx, store.Event{Type: store.EventResync, Err: fmt.Errorf("watch from revision %d: history compacted up to %d", pos, compacted)})
			return
		}
		for _, r := range batch {
			pos = r.rev
			if (kind != nil && r.key.Kind != kind) || (namespace != "" && r.key.Namespace != namespace) {
				continue
			}
			ev, err := toEvent(r)
			if err != nil {
				w.send(ctx, store.Event{Type: store.EventResync, Err: err})
				return
			}
			if !w.send(ctx, ev) {
				return
			}
		}
		if len(batch) == 0 {
			select {
			case <-wake:
			case <-ctx.Done():
				return
			}
		}
	}
}

func toEvent(r record) (store.Event, error) {
	objRev := r.rev
	if r.typ == store.EventDeleted {
		objRev = r.prev
	}
	obj, err := store.Decode(r.key.Kind, r.data, revString(objRev))
	if err != nil {
		return store.Event{}, err
	}
	return store.Event{Type: r.typ, Object: obj, Revision: revString(r.rev)}, nil
}

func (w *watch) send(ctx context.Context, ev store.Event) bool {
	select {
	case w.events <- ev:
		return true
	case <-ctx.Done():
		return false
	}
}
