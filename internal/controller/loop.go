package controller

import (
	"context"
	"log/slog"
	"time"

	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/store"
)

// Timing of a loop: events are coalesced for coalesce; a failed reconciliation (a
// compare-and-swap conflict, an unavailable store) is retried after retry, doubling to
// maxRetry.
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
}

func (l *loop) run(ctx context.Context) {
	trigger := make(chan struct{}, 1)
	poke := func() {
		select {
		case trigger <- struct{}{}:
		default:
		}
	}
	// Watches start before the first List, so no change in between is missed.
	for _, k := range l.kinds {
		w := l.watch(ctx, k)
		go l.drain(ctx, k, w, poke)
	}
	tick := time.NewTicker(l.resync)
	defer tick.Stop()
	backoff := time.Duration(0)
	for {
		err := l.reconcile(ctx)
		if ctx.Err() != nil {
			return
		}
		var again <-chan time.Time
		if err != nil {
			backoff = min(max(2*backoff, retry), maxRetry)
			l.log.Debug("reconcile failed: retrying", "err", err, "in", backoff)
			if backoff >= maxRetry {
				l.log.Warn("reconcile failing", "err", err)
			}
			again = time.After(backoff)
		} else {
			backoff = 0
		}
		select {
		case <-ctx.Done():
			return
		case <-trigger:
			time.Sleep(coalesce)
			select {
			case <-trigger:
			default:
			}
		case <-again:
		case <-tick.C:
		}
	}
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

// drain pokes on every event and re-opens the watch when it ends (after a resync event,
// a full reconciliation follows the poke).
func (l *loop) drain(ctx context.Context, k *model.Kind, w store.Watch, poke func()) {
	for w != nil {
		for range w.Events() {
			poke()
		}
		w.Stop()
		if ctx.Err() != nil {
			return
		}
		w = l.watch(ctx, k)
		poke()
	}
}
