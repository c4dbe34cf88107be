package kube

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"

	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/store"
)

// Watch implements store.Store with one API watch per kind (every registered kind when kind
// is nil; cluster-scoped kinds are left out of a nil-kind watch with a namespace), merged
// into one channel. Each kind's events keep the API server's order; events of different
// kinds are delivered as their watches produce them, with no order between kinds.
//
// An empty revision starts from the current state of each kind (a one-item list for its
// resourceVersion), so the watch delivers changes only, never the existing objects. The
// watches ask for bookmarks and follow them, and a watch the API server ends (its timeout)
// is resumed from the last resourceVersion seen. A 410 Gone, or any other failure to go on,
// ends the whole watch with EventResync. So does the installation of the CRD of an upstream
// kind (ClusterNetworkPolicy) that was not installed when the watch began, which the watch
// checks every 30 seconds: the watcher lists again and sees the kind.
func (s *Store) Watch(ctx context.Context, kind *model.Kind, opts store.WatchOptions) (store.Watch, error) {
	kinds := []*model.Kind{kind}
	if kind == nil {
		kinds = kinds[:0]
		for _, k := range s.kinds {
			if k.Namespaced || opts.Namespace == "" {
				kinds = append(kinds, k)
			}
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	streams, err := s.openAll(ctx, kinds, opts)
	if err != nil {
		cancel()
		return nil, err
	}
	w := &fanIn{out: make(chan store.Event), cancel: cancel}
	var wg sync.WaitGroup
	for _, st := range streams {
		wg.Go(func() { st.run(ctx, w) })
	}
	go func() {
		wg.Wait()
		close(w.out)
	}()
	return w, nil
}

// stream is the watch of one kind.
type stream struct {
	kind      *model.Kind
	namespace string
	ri        dynamic.ResourceInterface
	rv        string               // last resourceVersion seen (event or bookmark)
	wi        watch.Interface      // nil: the first open answered 410 (gone holds why)
	gone      error                // set when the watch must end with EventResync
	last      map[types.UID]string // resourceVersion of each live object's last state seen
	// view, for a derived kind (ri then watches its base kind): what each base object
	// shows, by uid.
	view  view
	shown map[types.UID]model.Object
	// absent, when not zero, marks the stream of an upstream kind whose CRD is not
	// installed: it lists every absent interval until the API server serves the kind.
	absent time.Duration
}

// openAll opens the streams of kinds concurrently (an API server with a watch cache may
// hold a watch request until its cache has caught up with the revision).
func (s *Store) openAll(ctx context.Context, kinds []*model.Kind, opts store.WatchOptions) ([]*stream, error) {
	streams := make([]*stream, len(kinds))
	errs := make([]error, len(kinds))
	var wg sync.WaitGroup
	for i, k := range kinds {
		wg.Go(func() { streams[i], errs[i] = s.open(ctx, k, opts) })
	}
	wg.Wait()
	for i, k := range kinds {
		if k.UpstreamCRD && apierrors.IsNotFound(errs[i]) {
			// Its CRD is not installed: nothing to watch, but the stream waits for the CRD
			// and then ends the watch with EventResync, so the watcher lists it.
			streams[i], errs[i] = &stream{kind: k, ri: s.client(k, opts.Namespace), absent: s.crdPoll}, nil
		}
	}
	if err := errors.Join(errs...); err != nil {
		for _, st := range streams {
			if st != nil {
				st.stop()
			}
		}
		return nil, err
	}
	return slices.DeleteFunc(streams, func(st *stream) bool { return st == nil }), nil
}

// open starts the watch of one kind from opts.Revision (or now). A revision the API server
// no longer has is not an error: the stream then delivers EventResync.
func (s *Store) open(ctx context.Context, kind *model.Kind, opts store.WatchOptions) (*stream, error) {
	st := &stream{kind: kind, namespace: opts.Namespace, ri: s.client(kind, opts.Namespace),
		rv: opts.Revision, last: map[types.UID]string{}}
	if v := views[kind]; v != nil {
		st.view, st.shown, st.ri = v, map[types.UID]model.Object{}, s.client(v.base(), opts.Namespace)
		if err := s.seedView(ctx, st); err != nil {
			if !gone(err) {
				return nil, collectionErr("watch", kind, err)
			}
			st.gone = fmt.Errorf("watch %s from resourceVersion %s: %w", kind.Resource(), st.rv, err)
			return st, nil
		}
	}
	if st.rv == "" {
		rctx, cancel := s.reqCtx(ctx)
		l, err := st.ri.List(rctx, metav1.ListOptions{Limit: 1})
		cancel()
		if err != nil {
			return nil, collectionErr("watch", kind, err)
		}
		st.rv = l.GetResourceVersion()
	}
	err := st.start(ctx)
	switch {
	case err == nil:
	case gone(err):
		st.gone = fmt.Errorf("watch %s from resourceVersion %s: %w", kind.Resource(), st.rv, err)
	default:
		return nil, collectionErr("watch", kind, err)
	}
	return st, nil
}

func (st *stream) start(ctx context.Context) error {
	wi, err := st.ri.Watch(ctx, metav1.ListOptions{ResourceVersion: st.rv, AllowWatchBookmarks: true})
	if err != nil {
		return err
	}
	st.wi = wi
	return nil
}

func (st *stream) stop() {
	if st.wi != nil {
		st.wi.Stop()
	}
}

// run delivers the stream's events until ctx ends or the watch cannot go on.
func (st *stream) run(ctx context.Context, w *fanIn) {
	defer st.stop()
	if st.absent != 0 && !st.waitServed(ctx) {
		return
	}
	for st.gone == nil {
		var ev watch.Event
		var ok bool
		select {
		case <-ctx.Done():
			return
		case ev, ok = <-st.wi.ResultChan():
		}
		if !ok { // the API server ended the watch (its timeout): resume where it was
			st.stop()
			if err := st.start(ctx); err != nil {
				if ctx.Err() != nil {
					return
				}
				st.gone = fmt.Errorf("resume watch %s from resourceVersion %s: %w", st.kind.Resource(), st.rv, err)
			}
			continue
		}
		out, err := st.event(ev)
		if err != nil {
			st.gone = err
			continue
		}
		for _, e := range out {
			if !w.send(ctx, e) {
				return
			}
		}
	}
	w.send(ctx, store.Event{Type: store.EventResync, Revision: st.rv, Err: st.gone})
}

// waitServed waits until the API server serves the stream's kind (its CRD was installed
// after the watch began) and sets gone, so that run ends the watch with EventResync: the
// watcher lists again and now sees the kind. It answers false when ctx ended first.
func (st *stream) waitServed(ctx context.Context) bool {
	t := time.NewTicker(st.absent)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
		if _, err := st.ri.List(ctx, metav1.ListOptions{Limit: 1}); err == nil {
			st.gone = fmt.Errorf("watch %s: the API server serves it now (its CRD was installed): list again", st.kind.Resource())
			return true
		}
	}
}

// event turns one API watch event into store events: none for bookmarks and objects
// outside the namespace, those of the view for a derived kind, else one. An ERROR event
// (410 Gone after a compaction) is an error.
func (st *stream) event(ev watch.Event) ([]store.Event, error) {
	if ev.Type == watch.Error {
		err := apierrors.FromObject(ev.Object)
		return nil, fmt.Errorf("watch %s from resourceVersion %s: %w", st.kind.Resource(), st.rv, err)
	}
	u, ok := ev.Object.(*unstructured.Unstructured)
	if !ok {
		return nil, fmt.Errorf("watch %s: unexpected object %T", st.kind.Resource(), ev.Object)
	}
	st.rv = u.GetResourceVersion()
	if ev.Type == watch.Bookmark || (st.namespace != "" && u.GetNamespace() != st.namespace) {
		return nil, nil
	}
	if st.view != nil {
		return st.viewEvents(ev.Type, u)
	}
	out, err := st.object(ev.Type, u)
	if err != nil {
		return nil, err
	}
	return []store.Event{out}, nil
}

// object turns one event of a stored kind into a store event.
func (st *stream) object(t watch.EventType, u *unstructured.Unstructured) (store.Event, error) {
	key := model.Key{Kind: st.kind, Namespace: u.GetNamespace(), Name: u.GetName()}
	out := store.Event{Revision: st.rv}
	switch t {
	case watch.Added:
		out.Type = store.EventAdded
		st.last[u.GetUID()] = st.rv
	case watch.Modified:
		out.Type = store.EventModified
		st.last[u.GetUID()] = st.rv
	case watch.Deleted:
		// The API server stamps the deleted object with the deletion's resourceVersion; the
		// store contract wants its last state's, known when this watch saw that state.
		out.Type = store.EventDeleted
		if rv, ok := st.last[u.GetUID()]; ok {
			u.SetResourceVersion(rv)
			delete(st.last, u.GetUID())
		}
	default:
		return store.Event{}, fmt.Errorf("watch %s: unexpected event type %q", st.kind.Resource(), t)
	}
	obj, err := decode("watch", key, u)
	if err != nil {
		return store.Event{}, err
	}
	out.Object = obj
	return out, nil
}

// fanIn merges the streams of one Watch. EventResync is the last event it delivers: after
// one is sent, the other streams' sends are dropped and they are stopped.
type fanIn struct {
	out    chan store.Event
	cancel context.CancelFunc
	mu     sync.Mutex
	ended  bool
}

func (w *fanIn) send(ctx context.Context, ev store.Event) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ended || ctx.Err() != nil {
		return false
	}
	select {
	case w.out <- ev:
	case <-ctx.Done():
		return false
	}
	if ev.Type == store.EventResync {
		w.ended = true
		w.cancel()
		return false
	}
	return true
}

// Events implements store.Watch.
func (w *fanIn) Events() <-chan store.Event { return w.out }

// Stop implements store.Watch; it may be called more than once.
func (w *fanIn) Stop() { w.cancel() }
