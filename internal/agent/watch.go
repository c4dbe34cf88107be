package agent

import (
	"context"
	"fmt"

	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/runner"
	"github.com/trellisnet/trellis/internal/store"
)

// watchLoop lists every calculation kind, hands the snapshot to the runner, then watches
// all kinds from the first list's revision, recording changes. It lists again whenever the
// watch reports EventResync or ends unexpectedly. Watching from the first (oldest) list
// revision may replay changes a later list already saw; replaying them in order ends in
// the same state, so nothing is lost and nothing is wrong.
func (a *Agent) watchLoop(ctx context.Context) {
	for ctx.Err() == nil {
		rev, err := a.listAll(ctx)
		if err != nil {
			a.log.Warn("list datastore failed; retrying", "err", err)
			a.metrics.storeErrors.Inc()
			if !runner.Sleep(ctx, a.cfg.RetryPeriod) {
				return
			}
			continue
		}
		w, err := a.st.Watch(ctx, nil, store.WatchOptions{Revision: rev})
		if err != nil {
			a.log.Warn("watch datastore failed; listing again", "err", err)
			a.metrics.storeErrors.Inc()
			if !runner.Sleep(ctx, a.cfg.RetryPeriod) {
				return
			}
			continue
		}
		a.consume(ctx, w)
		w.Stop()
	}
}

// listAll lists every calculation kind and records the snapshot; it returns the revision
// of the first list.
func (a *Agent) listAll(ctx context.Context) (string, error) {
	var items []model.Object
	first := ""
	for i, k := range a.kinds {
		res, err := a.st.List(ctx, k, store.ListOptions{})
		if err != nil {
			return "", fmt.Errorf("list %s: %w", k.Resource(), err)
		}
		if i == 0 {
			first = res.Revision
		}
		items = append(items, res.Items...)
	}
	a.mu.Lock()
	a.snapshot, a.newSnap = items, true
	a.pending = map[objKey]model.Object{}
	a.mu.Unlock()
	a.log.Info("datastore listed", "objects", len(items), "revision", first)
	a.poke()
	return first, nil
}

// consume records watch events until the watch ends (EventResync, closed channel or the
// end of ctx).
func (a *Agent) consume(ctx context.Context, w store.Watch) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.Events():
			if !ok {
				if ctx.Err() == nil {
					a.log.Warn("datastore watch ended; listing again")
				}
				return
			}
			if ev.Type == store.EventResync {
				a.log.Info("datastore watch lost history; listing again", "err", ev.Err)
				return
			}
			a.record(ev)
		}
	}
}

// record keeps the latest state of one object and wakes the runner; it does no other work.
func (a *Agent) record(ev store.Event) {
	if ev.Object == nil {
		return
	}
	k, ok := keyOf(ev.Object)
	if ok && a.routing != nil {
		a.routing.Changed(k.kind)
	}
	if !ok || !a.wanted[k.kind] {
		return
	}
	a.mu.Lock()
	if ev.Type == store.EventDeleted {
		a.pending[k] = nil
	} else {
		a.pending[k] = ev.Object
	}
	a.mu.Unlock()
	a.metrics.events.Inc()
	a.poke()
}
