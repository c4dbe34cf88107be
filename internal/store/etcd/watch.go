package etcd

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/store"
)

// Watch implements store.Store. An empty revision means "now": the current revision is read
// first, so no write acknowledged after Watch returns can be missed.
func (s *Store) Watch(ctx context.Context, kind *model.Kind, opts store.WatchOptions) (store.Watch, error) {
	what := "all kinds"
	if kind != nil {
		what = kind.Resource()
	}
	var after int64
	if opts.Revision != "" {
		r, err := strconv.ParseInt(opts.Revision, 10, 64)
		if err != nil || r < 0 {
			return nil, fmt.Errorf("watch %s: invalid revision %q", what, opts.Revision)
		}
		after = r
	} else {
		rctx, cancel := s.reqCtx(ctx)
		resp, err := s.cli.Get(rctx, root, clientv3.WithPrefix(), clientv3.WithCountOnly())
		cancel()
		if err != nil {
			return nil, wrapErr("watch", what, err)
		}
		after = resp.Header.Revision
	}
	// RequireLeader: a member cut off from the leader cancels the watch (and we resync)
	// rather than silently serving nothing.
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	ch := s.cli.Watch(wctx, prefix(kind, opts.Namespace),
		clientv3.WithPrefix(), clientv3.WithPrevKV(), clientv3.WithRev(after+1))
	w := &watch{events: make(chan store.Event), cancel: cancel}
	go w.run(wctx, ch, s.kinds, kind, opts.Namespace, what)
	return w, nil
}

type watch struct {
	events chan store.Event
	cancel context.CancelFunc
	once   sync.Once
}

func (w *watch) Events() <-chan store.Event { return w.events }
func (w *watch) Stop()                      { w.once.Do(w.cancel) }

func (w *watch) run(ctx context.Context, ch clientv3.WatchChan, kinds resources, kind *model.Kind, namespace, what string) {
	defer close(w.events)
	defer w.cancel()
	for {
		var resp clientv3.WatchResponse
		var ok bool
		select {
		case resp, ok = <-ch:
		case <-ctx.Done():
			return
		}
		if !ok {
			if ctx.Err() == nil { // the client was closed under us
				w.resync(ctx, fmt.Errorf("watch %s: client closed: %w", what, store.ErrUnavailable))
			}
			return
		}
		if err := resp.Err(); err != nil || resp.Canceled {
			if ctx.Err() != nil {
				return
			}
			if err == nil {
				err = errors.New("canceled by the server")
			}
			if resp.CompactRevision != 0 {
				err = fmt.Errorf("history compacted up to revision %d: %w", resp.CompactRevision, err)
			}
			w.resync(ctx, wrapErr("watch", what, err))
			return
		}
		for _, ev := range resp.Events {
			key, ok := kinds.parseKey(string(ev.Kv.Key))
			if !ok || (kind != nil && key.Kind != kind) || (namespace != "" && key.Namespace != namespace) {
				continue
			}
			out, err := toEvent(key, ev)
			if err != nil {
				w.resync(ctx, fmt.Errorf("watch %s: %w", what, err))
				return
			}
			select {
			case w.events <- out:
			case <-ctx.Done():
				return
			}
		}
	}
}

func (w *watch) resync(ctx context.Context, err error) {
	select {
	case w.events <- store.Event{Type: store.EventResync, Err: err}:
	case <-ctx.Done():
	}
}

func toEvent(key model.Key, ev *clientv3.Event) (store.Event, error) {
	out := store.Event{Revision: revString(ev.Kv.ModRevision)}
	switch {
	case ev.Type == mvccpb.DELETE:
		out.Type = store.EventDeleted
		if ev.PrevKv == nil { // previous state no longer in history: key only
			obj := key.Kind.New()
			obj.SetNamespace(key.Namespace)
			obj.SetName(key.Name)
			out.Object = obj
			return out, nil
		}
		obj, err := store.Decode(key.Kind, ev.PrevKv.Value, revString(ev.PrevKv.ModRevision))
		if err != nil {
			return out, fmt.Errorf("%s: %w", key, err)
		}
		out.Object = obj
		return out, nil
	case ev.IsCreate():
		out.Type = store.EventAdded
	default:
		out.Type = store.EventModified
	}
	obj, err := store.Decode(key.Kind, ev.Kv.Value, out.Revision)
	if err != nil {
		return out, fmt.Errorf("%s: %w", key, err)
	}
	out.Object = obj
	return out, nil
}
