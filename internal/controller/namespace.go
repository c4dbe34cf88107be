package controller

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/runner"
	"github.com/trellisnet/trellis/internal/store"
)

// PlanNamespaceCleanup returns the objects to delete because their namespace is gone, as
// Kubernetes' namespace controller deletes a deleted namespace's contents: every object of
// objs in a namespace of gone that is not in live (a namespace created again is not gone),
// sorted by namespace, kind and name. Namespaces themselves and cluster-scoped objects are
// never returned.
func PlanNamespaceCleanup(gone []string, live []*corev1.Namespace, objs []model.Object) []model.Object {
	isGone := map[string]bool{}
	for _, ns := range gone {
		isGone[ns] = true
	}
	for _, n := range live {
		delete(isGone, n.Name)
	}
	var out []model.Object
	for _, o := range objs {
		if _, ns := o.(*corev1.Namespace); ns || o.GetNamespace() == "" || !isGone[o.GetNamespace()] {
			continue
		}
		out = append(out, o)
	}
	slices.SortFunc(out, func(a, b model.Object) int {
		return cmp.Or(cmp.Compare(a.GetNamespace(), b.GetNamespace()),
			cmp.Compare(kindName(a), kindName(b)), cmp.Compare(a.GetName(), b.GetName()))
	})
	return out
}

func kindName(o model.Object) string {
	gvk := o.GetObjectKind().GroupVersionKind()
	return gvk.Kind + "." + gvk.Group
}

// namespaceCache remembers which namespaces are gone: seen and then deleted (a Deleted
// event, or absent from a re-list), until created again. A namespace the controller never
// saw is never gone: Calico's etcd mode keeps namespaced resources in namespaces that have
// no Namespace object, and those must stay.
type namespaceCache struct {
	mu   sync.Mutex
	live map[string]bool
	gone map[string]bool
}

func newNamespaceCache() *namespaceCache {
	return &namespaceCache{live: map[string]bool{}, gone: map[string]bool{}}
}

func (c *namespaceCache) replace(_ *model.Kind, objs []model.Object) {
	c.mu.Lock()
	defer c.mu.Unlock()
	live := map[string]bool{}
	for _, o := range objs {
		live[o.GetName()] = true
		delete(c.gone, o.GetName())
	}
	for ns := range c.live {
		if !live[ns] {
			c.gone[ns] = true
		}
	}
	c.live = live
}

func (c *namespaceCache) apply(_ *model.Kind, ev store.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ns := ev.Object.GetName()
	if ev.Type == store.EventDeleted {
		delete(c.live, ns)
		c.gone[ns] = true
		return
	}
	c.live[ns] = true
	delete(c.gone, ns)
}

// goneNamespaces returns the gone namespaces, sorted.
func (c *namespaceCache) goneNamespaces() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, 0, len(c.gone))
	for ns := range c.gone {
		out = append(out, ns)
	}
	slices.Sort(out)
	return out
}

// reconcileNamespaces deletes what remains in gone namespaces, on every Namespace event and
// every resync (objects written into a gone namespace later are deleted then). Each
// delete is guarded by the object's UID, so an object created again meanwhile stays.
func (c *Controller) reconcileNamespaces(cache *namespaceCache) runner.Func {
	return func(ctx context.Context, _ runner.Reason) error {
		gone := cache.goneNamespaces()
		if len(gone) == 0 {
			return nil
		}
		live, err := list[*corev1.Namespace](ctx, c.st, model.KindNamespace)
		if err != nil {
			return err
		}
		objs, err := c.listIn(ctx, gone)
		if err != nil {
			return err
		}
		var errs []error
		for _, o := range PlanNamespaceCleanup(gone, live, objs) {
			gvk := o.GetObjectKind().GroupVersionKind()
			k, ok := model.Default.Lookup(gvk.GroupVersion().String(), gvk.Kind)
			if !ok {
				continue
			}
			dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			_, err := c.st.Delete(dctx, k, o.GetNamespace(), o.GetName(), store.DeleteOptions{UID: string(o.GetUID())})
			cancel()
			switch {
			case err == nil:
				c.log.Info("namespace gone: object deleted", "namespace", o.GetNamespace(), "kind", k.Kind, "name", o.GetName())
			case !errors.Is(err, store.ErrNotFound):
				errs = append(errs, fmt.Errorf("delete %s %s of gone namespace: %w", k.Kind, Key(o.GetNamespace(), o.GetName()), err))
			}
		}
		return errors.Join(errs...)
	}
}

// listIn lists every namespaced kind of the registry in the namespaces nss.
func (c *Controller) listIn(ctx context.Context, nss []string) ([]model.Object, error) {
	var out []model.Object
	for _, k := range model.Default.Kinds() {
		if !k.Namespaced || k == model.KindNamespace {
			continue
		}
		for _, ns := range nss {
			lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			res, err := c.st.List(lctx, k, store.ListOptions{Namespace: ns})
			cancel()
			if err != nil {
				return nil, fmt.Errorf("list %s in namespace %s: %w", k.Plural, ns, err)
			}
			for _, o := range res.Items {
				o.GetObjectKind().SetGroupVersionKind(k.GVK()) // the delete finds the kind by it
				out = append(out, o)
			}
		}
	}
	return out, nil
}
