package controller

import (
	"context"
	"log/slog"
	"time"

	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/runner"
	"github.com/trellisnet/trellis/internal/store"
	"github.com/trellisnet/trellis/internal/store/reach"
)

// Timing of a loop (a runner.Runner): events are coalesced for coalesce; a failed
// reconciliation (a compare-and-swap conflict, an unavailable store) is retried after
// retry, doubling to maxRetry.
const (
	coalesce = 20 * time.Millisecond
	retry    = 50 * time.Millisecond
	maxRetry = 5 * time.Second
)

// loop reconciles on every change of its kinds, after a failure and every resync.
type loop struct {
	name      string
	st        store.Store
	kinds     []*model.Kind
	reconcile func(context.Context) error
	resync    time.Duration
	log       *slog.Logger
	observer  runner.Observer // told of every run (metrics); may be nil
	// back, when set, returns a channel closed when the datastore answers again after
	// being unreachable: the loop then re-opens its watches and reconciles.
	back func() <-chan struct{}
}

// backCh is the channel of the datastore's next return; nil (never ready) without back.
func (l *loop) backCh() <-chan struct{} {
	if l.back == nil {
		return nil
	}
	return l.back()
}

func (l *loop) run(ctx context.Context) {
	r := runner.New(runner.Config{Start: true, Coalesce: coalesce, Resync: l.resync, Retry: retry, MaxRetry: maxRetry,
		Name: l.name, Observer: l.observer, OnError: func(err error, in time.Duration) {
			l.log.Debug("reconcile failed: retrying", "err", err, "in", in)
			if in >= maxRetry {
				l.log.Warn("reconcile failing", "err", err)
			}
		}})
	// Watches start before the first List, so no change in between is missed.
	for _, k := range l.kinds {
		w := l.watch(ctx, k)
		go l.drain(ctx, k, w, r.Trigger)
	}
	r.Run(ctx, func(ctx context.Context, _ runner.Reason) error { return l.reconcile(ctx) })
}

// watch opens a watch on k, retrying until it succeeds or ctx ends (nil then).
func (l *loop) watch(ctx context.Context, k *model.Kind) store.Watch {
	for {
		w, err := l.st.Watch(ctx, k, store.WatchOptions{})
		if err == nil {
			return w
		}
		l.log.Warn("watch failed: retrying", "kind", k.Kind, "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
}

// drain pokes on every event and re-opens the watch when it ends or the datastore answers
// again after being unreachable (a full reconciliation follows the poke).
func (l *loop) drain(ctx context.Context, k *model.Kind, w store.Watch, poke func()) {
	for w != nil {
		reach.Drain(w, l.backCh(), poke)
		if ctx.Err() != nil {
			return
		}
		w = l.watch(ctx, k)
		poke()
	}
}
