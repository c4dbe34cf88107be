package kube

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/store"
)

// view is a Calico kind the backend derives from a Kubernetes resource instead of storing
// it in its CRD (Calico's Kubernetes data model): WorkloadEndpoint from Pod, Node from the
// Kubernetes Node. Reads are generic over derive; writes change annotations of the base
// object with compare-and-swap, each view its own way.
type view interface {
	// base is the Kubernetes kind the view is derived from.
	base() *model.Kind
	// baseName names the base object of a view object, false when name cannot be one.
	baseName(name string) (string, bool)
	// derive is the view object of a base object; false when it shows none.
	derive(u *unstructured.Unstructured) (model.Object, bool, error)
	// annotations are the base object's annotations that hold obj (nil values: remove),
	// checked against base, the current base object; the error names what cannot be held.
	annotations(op string, obj model.Object, base *unstructured.Unstructured) (map[string]any, error)
	// createErr is the error of a Create whose base object does not exist.
	createErr(key model.Key, baseName string) error
}

// views are the derived kinds.
var views = map[*model.Kind]view{
	model.KindWorkloadEndpoint: podEndpoints{},
	model.KindNode:             nodeView{},
}

// DerivedEndpoints implements store.Derived: WorkloadEndpoints are views of Pods and
// Calico Nodes of Kubernetes Nodes.
func (s *Store) DerivedEndpoints() bool { return true }

var _ store.Derived = (*Store)(nil)

// getView reads the base object of namespace/name and derives the view object; a base
// that shows no object of that name is ErrNotFound.
func (s *Store) getView(ctx context.Context, op string, v view, key model.Key) (model.Object, *unstructured.Unstructured, error) {
	baseName, ok := v.baseName(key.Name)
	if !ok {
		return nil, nil, fmt.Errorf("%s %s: %w", op, key, store.ErrNotFound)
	}
	u, err := s.client(v.base(), key.Namespace).Get(ctx, baseName, metav1.GetOptions{})
	if err != nil {
		return nil, nil, wrapErr(op, key.String(), err)
	}
	obj, shown, err := v.derive(u)
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: %w", op, key, err)
	}
	if !shown || obj.GetName() != key.Name {
		return nil, u, fmt.Errorf("%s %s: %s %s shows none: %w", op, key, v.base().Kind, baseName, store.ErrNotFound)
	}
	return obj, u, nil
}

// listView lists the base kind and derives; the label selector applies to the derived
// labels, so it is evaluated here.
func (s *Store) listView(ctx context.Context, v view, opts store.ListOptions) (*store.ListResult, error) {
	ul, err := s.client(v.base(), opts.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, collectionErr("list", v.base(), err)
	}
	res := &store.ListResult{Revision: ul.GetResourceVersion(), Items: []model.Object{}}
	for i := range ul.Items {
		obj, shown, err := v.derive(&ul.Items[i])
		if err != nil {
			return nil, fmt.Errorf("list: %w", err)
		}
		if !shown || (opts.Labels != nil && !opts.Labels.Matches(labelSet(obj.GetLabels()))) {
			continue
		}
		res.Items = append(res.Items, obj)
	}
	store.SortObjects(res.Items)
	return res, nil
}

type labelSet map[string]string

func (l labelSet) Has(k string) bool              { _, ok := l[k]; return ok }
func (l labelSet) Get(k string) string            { return l[k] }
func (l labelSet) Lookup(k string) (string, bool) { v, ok := l[k]; return v, ok }

// writeView is Create (create true) and Update of a view object: a merge patch of the base
// object's annotations guarded by its resourceVersion. Create needs a base that shows no
// object (else ErrAlreadyExists), Update one that shows this one (else ErrNotFound). An
// Update without resourceVersion reads again after a conflict.
func (s *Store) writeView(ctx context.Context, op string, v view, key model.Key, obj model.Object, create bool) (model.Object, error) {
	baseName, ok := v.baseName(key.Name)
	if !ok {
		return nil, fmt.Errorf("%s %s: not a name of a %s view of a %s", op, key, key.Kind.Kind, v.base().Kind)
	}
	ri := s.client(v.base(), key.Namespace)
	rv := obj.GetResourceVersion()
	for {
		u, err := ri.Get(ctx, baseName, metav1.GetOptions{})
		if apierrors.IsNotFound(err) && create {
			return nil, v.createErr(key, baseName)
		}
		if err != nil {
			return nil, wrapErr(op, key.String(), err)
		}
		cur, shown, err := v.derive(u)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", op, key, err)
		}
		exists := shown && cur.GetName() == key.Name
		switch {
		case create && shown:
			return nil, fmt.Errorf("%s %s: %s %s already shows %s: %w", op, key, v.base().Kind, baseName, cur.GetName(), store.ErrAlreadyExists)
		case !create && !exists:
			return nil, fmt.Errorf("%s %s: %w", op, key, store.ErrNotFound)
		case rv != "" && rv != u.GetResourceVersion():
			return nil, fmt.Errorf("%s %s: resourceVersion %s is not the stored %s: %w", op, key, rv, u.GetResourceVersion(), store.ErrConflict)
		}
		ann, err := v.annotations(op, obj, u)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", op, key, err)
		}
		out, err := s.patchAnnotations(ctx, op, key, v, u, ann)
		if err == nil || rv != "" || !errors.Is(err, store.ErrConflict) {
			return out, err
		}
	}
}

// deleteView removes the annotations that hold a view object and returns its last state.
func (s *Store) deleteView(ctx context.Context, v view, key model.Key, opts store.DeleteOptions) (model.Object, error) {
	for {
		last, u, err := s.getView(ctx, "delete", v, key)
		if err != nil {
			return nil, err
		}
		if opts.ResourceVersion != "" && opts.ResourceVersion != last.GetResourceVersion() {
			return nil, fmt.Errorf("delete %s: precondition resourceVersion %s is not the stored %s: %w", key, opts.ResourceVersion, last.GetResourceVersion(), store.ErrConflict)
		}
		if opts.UID != "" && types.UID(opts.UID) != last.GetUID() {
			return nil, fmt.Errorf("delete %s: precondition uid %s is not the stored %s: %w", key, opts.UID, last.GetUID(), store.ErrConflict)
		}
		ann, err := v.annotations("delete", nil, u)
		if err != nil {
			return nil, fmt.Errorf("delete %s: %w", key, err)
		}
		_, err = s.patchAnnotations(ctx, "delete", key, v, u, ann)
		if err == nil {
			return last, nil
		}
		if opts.ResourceVersion != "" || !errors.Is(err, store.ErrConflict) {
			return nil, err
		}
	}
}

// patchAnnotations sends one merge patch of base's annotations, guarded by its uid and
// resourceVersion, and derives the view from the answer (nil when it shows none).
func (s *Store) patchAnnotations(ctx context.Context, op string, key model.Key, v view, base *unstructured.Unstructured, ann map[string]any) (model.Object, error) {
	patch := map[string]any{"metadata": map[string]any{
		"uid": string(base.GetUID()), "resourceVersion": base.GetResourceVersion(), "annotations": ann}}
	body, err := json.Marshal(patch)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", op, key, err)
	}
	out, err := s.client(v.base(), key.Namespace).Patch(ctx, base.GetName(), types.MergePatchType, body, metav1.PatchOptions{})
	if err != nil {
		return nil, wrapErr(op, key.String(), err)
	}
	obj, shown, err := v.derive(out)
	if err != nil || !shown {
		return nil, err
	}
	return obj, nil
}

// viewEvents turns one event of the base kind into the view's events (none, one, or two
// when the derived name changed), tracking which base objects show which view object.
func (st *stream) viewEvents(t watch.EventType, u *unstructured.Unstructured) ([]store.Event, error) {
	uid := u.GetUID()
	prev, had := st.shown[uid]
	var cur model.Object
	shown := false
	if t != watch.Deleted {
		var err error
		if cur, shown, err = st.view.derive(u); err != nil {
			return nil, fmt.Errorf("watch %s: %w", st.kind.Resource(), err)
		}
	}
	ev := func(et store.EventType, obj model.Object) store.Event {
		return store.Event{Type: et, Object: obj, Revision: st.rv}
	}
	switch {
	case shown && !had:
		st.shown[uid] = cur
		return []store.Event{ev(store.EventAdded, cur)}, nil
	case shown && prev.GetName() != cur.GetName():
		st.shown[uid] = cur
		return []store.Event{ev(store.EventDeleted, prev), ev(store.EventAdded, cur)}, nil
	case shown:
		st.shown[uid] = cur
		if sameView(prev, cur) {
			return nil, nil
		}
		return []store.Event{ev(store.EventModified, cur)}, nil
	case had:
		delete(st.shown, uid)
		return []store.Event{ev(store.EventDeleted, prev)}, nil
	case t == watch.Deleted:
		// Deleted before this watch saw it: its final state says what it showed.
		if last, ok, err := st.view.derive(u); err == nil && ok {
			return []store.Event{ev(store.EventDeleted, last)}, nil
		}
	}
	return nil, nil
}

// sameView says whether two states of a view object differ only in resourceVersion (the
// base object changed in a field the view does not show: a pod's status, a node's
// heartbeat).
func sameView(a, b model.Object) bool {
	ca, cb := model.Clone(a), model.Clone(b)
	ca.SetResourceVersion("")
	cb.SetResourceVersion("")
	ja, errA := json.Marshal(ca)
	jb, errB := json.Marshal(cb)
	return errA == nil && errB == nil && string(ja) == string(jb)
}

// seedView lists the base kind at the watch's revision (exactly, so that the watch's
// events apply to that state; now when the revision is empty) and records what it shows.
func (s *Store) seedView(ctx context.Context, st *stream) error {
	lo := metav1.ListOptions{}
	if st.rv != "" {
		lo.ResourceVersion, lo.ResourceVersionMatch = st.rv, metav1.ResourceVersionMatchExact
	}
	rctx, cancel := s.reqCtx(ctx)
	defer cancel()
	ul, err := st.ri.List(rctx, lo)
	if err != nil {
		return err
	}
	st.rv = ul.GetResourceVersion()
	for i := range ul.Items {
		obj, shown, err := st.view.derive(&ul.Items[i])
		if err != nil {
			return err
		}
		if shown {
			st.shown[ul.Items[i].GetUID()] = obj
		}
	}
	return nil
}
