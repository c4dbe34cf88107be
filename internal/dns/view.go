package dns

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/store"
)

// view is the server's copy of Services and EndpointSlices.
type view struct {
	mu       sync.RWMutex
	services map[string]*corev1.Service                       // ns/name
	slices   map[string]map[string]*discoveryv1.EndpointSlice // ns/service -> slice name -> slice
	owner    map[string]string                                // ns/slice -> ns/service it is filed under
	synced   map[*model.Kind]bool
}

func newView() *view {
	return &view{services: map[string]*corev1.Service{}, slices: map[string]map[string]*discoveryv1.EndpointSlice{},
		owner: map[string]string{}, synced: map[*model.Kind]bool{}}
}

func key(ns, name string) string { return ns + "/" + name }

func sliceOwner(s *discoveryv1.EndpointSlice) string {
	return key(s.Namespace, s.Labels[discoveryv1.LabelServiceName])
}

// set records (or with del removes) one object.
func (v *view) set(o model.Object, del bool) {
	switch x := o.(type) {
	case *corev1.Service:
		if del {
			delete(v.services, key(x.Namespace, x.Name))
		} else {
			v.services[key(x.Namespace, x.Name)] = x
		}
	case *discoveryv1.EndpointSlice:
		owner, sk := sliceOwner(x), key(x.Namespace, x.Name)
		// A slice may move to another service (label change): unfile it first.
		if old, ok := v.owner[sk]; ok {
			delete(v.slices[old], x.Name)
			if len(v.slices[old]) == 0 {
				delete(v.slices, old)
			}
			delete(v.owner, sk)
		}
		if del {
			return
		}
		v.owner[sk] = owner
		if v.slices[owner] == nil {
			v.slices[owner] = map[string]*discoveryv1.EndpointSlice{}
		}
		v.slices[owner][x.Name] = x
	}
}

// replace swaps in a fresh list of one kind.
func (v *view) replace(k *model.Kind, items []model.Object) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if k == model.KindService {
		v.services = map[string]*corev1.Service{}
	} else {
		v.slices = map[string]map[string]*discoveryv1.EndpointSlice{}
		v.owner = map[string]string{}
	}
	for _, o := range items {
		v.set(o, false)
	}
	v.synced[k] = true
}

func (v *view) apply(ev store.Event) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.set(ev.Object, ev.Type == store.EventDeleted)
}

// Synced reports whether both kinds have been listed once.
func (v *view) Synced() bool {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.synced[model.KindService] && v.synced[model.KindEndpointSlice]
}

// follow keeps one kind of the view current until ctx ends: list, watch from the list's
// revision, list again after a resync, a broken watch or the store's return (back).
func (v *view) follow(ctx context.Context, st store.Store, k *model.Kind, log *slog.Logger, back func() <-chan struct{}) {
	for ctx.Err() == nil {
		err := v.followOnce(ctx, st, k, back())
		if ctx.Err() != nil {
			return
		}
		log.Warn("dns view: relisting", "kind", k.Kind, "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func (v *view) followOnce(ctx context.Context, st store.Store, k *model.Kind, back <-chan struct{}) error {
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	res, err := st.List(lctx, k, store.ListOptions{})
	cancel()
	if err != nil {
		return fmt.Errorf("list %s: %w", k.Plural, err)
	}
	w, err := st.Watch(ctx, k, store.WatchOptions{Revision: res.Revision})
	if err != nil {
		return fmt.Errorf("watch %s: %w", k.Plural, err)
	}
	defer w.Stop()
	v.replace(k, res.Items)
	for {
		select {
		case ev, ok := <-w.Events():
			if !ok {
				return fmt.Errorf("watch %s: ended", k.Plural)
			}
			if ev.Type == store.EventResync {
				return fmt.Errorf("watch %s: resync: %w", k.Plural, ev.Err)
			}
			v.apply(ev)
		case <-back:
			return fmt.Errorf("watch %s: datastore back", k.Plural)
		}
	}
}
