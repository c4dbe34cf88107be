package cni

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/store"
)

// timing records how long the phases of one command took, for its "command done" log
// record (the ADD latency budget is a benchmark target, and this is its breakdown).
// Phases may overlap: each is measured from its own start. Safe for concurrent use.
type timing struct {
	mu     sync.Mutex
	phases []slog.Attr
}

// phase starts a phase and returns the function that ends it.
func (t *timing) phase(name string) func() {
	start := time.Now()
	return func() {
		d := time.Since(start)
		t.mu.Lock()
		t.phases = append(t.phases, slog.Duration(name, d))
		t.mu.Unlock()
	}
}

// attr is the "phases" group of the log record.
func (t *timing) attr() slog.Attr {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slog.Attr{Key: "phases", Value: slog.GroupValue(t.phases...)}
}

// countingStore counts the requests one command makes to the datastore (each a round trip,
// Update, Delete and Apply of the etcd backend sometimes more), for the same log record.
type countingStore struct {
	store.Store
	n atomic.Int32
}

func (s *countingStore) Get(ctx context.Context, kind *model.Kind, namespace, name string) (model.Object, error) {
	s.n.Add(1)
	return s.Store.Get(ctx, kind, namespace, name)
}

func (s *countingStore) List(ctx context.Context, kind *model.Kind, opts store.ListOptions) (*store.ListResult, error) {
	s.n.Add(1)
	return s.Store.List(ctx, kind, opts)
}

func (s *countingStore) Create(ctx context.Context, obj model.Object) (model.Object, error) {
	s.n.Add(1)
	return s.Store.Create(ctx, obj)
}

func (s *countingStore) Update(ctx context.Context, obj model.Object) (model.Object, error) {
	s.n.Add(1)
	return s.Store.Update(ctx, obj)
}

func (s *countingStore) Delete(ctx context.Context, kind *model.Kind, namespace, name string, opts store.DeleteOptions) (model.Object, error) {
	s.n.Add(1)
	return s.Store.Delete(ctx, kind, namespace, name, opts)
}

func (s *countingStore) Apply(ctx context.Context, ops []store.Op) ([]model.Object, error) {
	s.n.Add(1)
	return s.Store.Apply(ctx, ops)
}
