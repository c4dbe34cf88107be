package controller

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/runner"
	"github.com/trellisnet/trellis/internal/store"
)

// cache is what an informed loop keeps in memory: typed maps and indexes of its kinds,
// filled by one List per kind and then kept by that kind's watch events, with a record of
// what changed since the last run. Its methods are called from the watch goroutines and
// must lock.
type cache interface {
	// replace sets a kind's objects after a (re-)list: everything is to be planned again.
	replace(k *model.Kind, objs []model.Object)
	// apply records one watch event (Added, Modified or Deleted).
	apply(k *model.Kind, ev store.Event)
}

// informedLoop is a loop that lists its kinds once into a cache and then applies watch
// events to it (an informer), so a run plans from memory what the events touched instead
// of listing the store again. A watch that ends (a resync event, a lost connection) lists
// its kind again; reconcile is told why it runs (Start and Resync: plan everything).
type informedLoop struct {
	name      string
	st        store.Store
	kinds     []*model.Kind
	cache     cache
	reconcile runner.Func
	resync    time.Duration
	log       *slog.Logger
	observer  runner.Observer // told of every run (metrics); may be nil
}

func (l *informedLoop) run(ctx context.Context) {
	r := runner.New(runner.Config{Start: true, Coalesce: coalesce, Resync: l.resync, Retry: retry, MaxRetry: maxRetry,
		Name: l.name, Observer: l.observer, OnError: func(err error, in time.Duration) {
			l.log.Debug("reconcile failed: retrying", "err", err, "in", in)
			if in >= maxRetry {
				l.log.Warn("reconcile failing", "err", err)
			}
		}})
	// Every kind is listed before the first run, so the first run sees a whole cluster.
	ws := make([]store.Watch, len(l.kinds))
	for i, k := range l.kinds {
		if ws[i] = l.sync(ctx, k); ws[i] == nil {
			return
		}
	}
	for i, k := range l.kinds {
		go l.follow(ctx, k, ws[i], r.Trigger)
	}
	r.Run(ctx, l.reconcile)
}

// sync lists k into the cache and watches it from the listing's revision, retrying until
// both succeed or ctx ends (nil then).
func (l *informedLoop) sync(ctx context.Context, k *model.Kind) store.Watch {
	for {
		w, err := l.listWatch(ctx, k)
		if err == nil {
			return w
		}
		l.log.Warn("list and watch failed: retrying", "kind", k.Kind, "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
}

func (l *informedLoop) listWatch(ctx context.Context, k *model.Kind) (store.Watch, error) {
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	res, err := l.st.List(lctx, k, store.ListOptions{})
	cancel()
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", k.Plural, err)
	}
	w, err := l.st.Watch(ctx, k, store.WatchOptions{Revision: res.Revision})
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", k.Plural, err)
	}
	l.cache.replace(k, res.Items)
	return w, nil
}

// follow applies k's events to the cache and pokes the runner; when the watch ends it
// lists again (the cache then asks for a full plan).
func (l *informedLoop) follow(ctx context.Context, k *model.Kind, w store.Watch, poke func()) {
	for w != nil {
		for ev := range w.Events() {
			if ev.Type == store.EventResync || ev.Object == nil {
				continue // the last event: the channel closes after it
			}
			l.cache.apply(k, ev)
			poke()
		}
		w.Stop()
		if ctx.Err() != nil {
			return
		}
		w = l.sync(ctx, k)
		poke()
	}
}

// keyOf is an object's namespace/name.
func keyOf(o model.Object) string { return Key(o.GetNamespace(), o.GetName()) }

// full reports whether a run plans everything rather than what events touched.
func full(why runner.Reason) bool { return why == runner.Start || why == runner.Resync }
