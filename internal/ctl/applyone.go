package ctl

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/store"
)

// What a write did to one object, as kubectl says it.
const (
	outCreated    = "created"
	outConfigured = "configured"
	outUnchanged  = "unchanged"
	outReplaced   = "replaced"
	outDeleted    = "deleted"
)

// maxApplyAttempts bounds apply's read-modify-write loop when other writers race it; a
// manifest without a resourceVersion is last-writer-wins, so it retries with backoff.
const maxApplyAttempts = 12

// prefetchMin is the number of documents of one kind and namespace from which apply lists
// them once instead of reading each object.
const prefetchMin = 16

// objectRef names an object as kubectl prints it: kind.group/name.
func objectRef(key model.Key) string {
	k := strings.ToLower(key.Kind.Kind)
	if key.Kind.Group != "" {
		k += "." + key.Kind.Group
	}
	return k + "/" + key.Name
}

// cache holds objects apply listed ahead of time. Each key is answered from the listing
// once (a retry or a second document for the same object reads the store); a key of a
// listed kind and namespace that the listing lacks does not exist.
type cache struct {
	listed map[string]bool
	objs   map[model.Key]model.Object
	served map[model.Key]bool
}

func groupKey(k *model.Kind, ns string) string { return k.StorageName() + "/" + ns }

// prefetch lists the kinds and namespaces that many documents share.
func prefetch(ctx context.Context, st store.Store, docs []model.Document) (*cache, error) {
	c := &cache{listed: map[string]bool{}, objs: map[model.Key]model.Object{}, served: map[model.Key]bool{}}
	count := map[string]int{}
	for _, d := range docs {
		if key, ok := model.KeyOf(d.Object); ok {
			count[groupKey(key.Kind, key.Namespace)]++
		}
	}
	for _, d := range docs {
		key, ok := model.KeyOf(d.Object)
		if !ok {
			continue
		}
		g := groupKey(key.Kind, key.Namespace)
		if c.listed[g] || count[g] < prefetchMin {
			continue
		}
		res, err := st.List(ctx, key.Kind, store.ListOptions{Namespace: key.Namespace})
		if err != nil {
			return nil, err
		}
		c.listed[g] = true
		for _, o := range res.Items {
			if k, ok := model.KeyOf(o); ok && k.Namespace == key.Namespace {
				c.objs[k] = o
			}
		}
	}
	return c, nil
}

func (c *cache) get(ctx context.Context, st store.Store, key model.Key) (model.Object, error) {
	if c != nil && c.listed[groupKey(key.Kind, key.Namespace)] && !c.served[key] {
		c.served[key] = true
		if o, ok := c.objs[key]; ok {
			return o, nil
		}
		return nil, fmt.Errorf("%s: %w", key, store.ErrNotFound)
	}
	return st.Get(ctx, key.Kind, key.Namespace, key.Name)
}

// sameContent reports whether writing next over cur would change nothing but
// server-managed metadata.
func sameContent(cur, next model.Object) bool {
	a, b := model.Clone(cur), model.Clone(next)
	for _, o := range []model.Object{a, b} {
		o.SetResourceVersion("")
		o.SetUID("")
		o.SetCreationTimestamp(metav1.Time{})
		o.SetGeneration(0)
		o.SetManagedFields(nil)
	}
	ja, erra := json.Marshal(a)
	jb, errb := json.Marshal(b)
	if erra != nil || errb != nil {
		return false
	}
	if bytes.Equal(ja, jb) {
		return true
	}
	// A Kubernetes API server fills in fields of its own kinds (a pod's dnsPolicy, a
	// namespace's finalizers and name label): such an object is unchanged when every field
	// the manifest gives has the stored value.
	key, _ := model.KeyOf(next)
	if key.Kind == nil || key.Kind.Group == model.GroupCalico || key.Kind.Internal {
		return false
	}
	var live, want any
	if json.Unmarshal(ja, &live) != nil || json.Unmarshal(jb, &want) != nil {
		return false
	}
	return subset(want, live)
}

// subset reports whether every field of want is in have with the same value; lists must
// have the same length, element by element a subset.
func subset(want, have any) bool {
	if wl, ok := want.([]any); ok {
		hl, ok := have.([]any)
		if !ok || len(hl) != len(wl) {
			return false
		}
		for i := range wl {
			if !subset(wl[i], hl[i]) {
				return false
			}
		}
		return true
	}
	wm, ok := want.(map[string]any)
	if !ok {
		wb, _ := json.Marshal(want)
		hb, _ := json.Marshal(have)
		return bytes.Equal(wb, hb)
	}
	hm, ok := have.(map[string]any)
	if !ok {
		return false
	}
	for k, v := range wm {
		if hv, ok := hm[k]; !ok || !subset(v, hv) {
			return false
		}
	}
	return true
}

// applyPlan is what applying one object would do: create it (cur nil), leave it
// unchanged, or write next over cur.
type applyPlan struct {
	cur, next model.Object
	outcome   string
}

// planApply reads the stored object and works out what applying obj does, writing
// nothing. A resourceVersion in the manifest is a precondition the user asked for;
// without one the stored object's version is used (last writer wins).
func planApply(ctx context.Context, st store.Store, c *cache, obj model.Object) (applyPlan, error) {
	key, _ := model.KeyOf(obj)
	cur, err := c.get(ctx, st, key)
	if errors.Is(err, store.ErrNotFound) {
		if obj.GetResourceVersion() != "" {
			return applyPlan{}, fmt.Errorf("%s: %w", key, err)
		}
		return applyPlan{next: obj, outcome: outCreated}, nil
	}
	if err != nil {
		return applyPlan{}, err
	}
	next := model.Clone(obj)
	if obj.GetResourceVersion() == "" {
		next.SetResourceVersion(cur.GetResourceVersion())
	}
	keepServerFields(cur, next)
	if next.GetResourceVersion() == cur.GetResourceVersion() && sameContent(cur, next) {
		return applyPlan{cur: cur, next: next, outcome: outUnchanged}, nil
	}
	return applyPlan{cur: cur, next: next, outcome: outConfigured}, nil
}

// applyOne creates obj or overwrites the stored object with it, and says which; an object
// equal to the stored one is not written. Without a resourceVersion in the manifest it
// retries with backoff when another writer races it.
func applyOne(ctx context.Context, st store.Store, c *cache, obj model.Object) (string, error) {
	for attempt := 1; ; attempt++ {
		p, err := planApply(ctx, st, c, obj)
		if err != nil {
			return "", err
		}
		switch p.outcome {
		case outUnchanged:
			return p.outcome, nil
		case outCreated:
			_, err = st.Create(ctx, p.next)
		default:
			_, err = st.Update(ctx, p.next)
		}
		retry := errors.Is(err, store.ErrAlreadyExists) || errors.Is(err, store.ErrConflict)
		if retry && obj.GetResourceVersion() == "" && attempt < maxApplyAttempts {
			backoff(ctx, attempt)
			continue
		}
		return p.outcome, err
	}
}

// backoff waits 2^attempt ms (at most 250 ms), jittered, or until ctx ends.
func backoff(ctx context.Context, attempt int) {
	d := min(time.Duration(1<<min(attempt, 8))*time.Millisecond, 250*time.Millisecond)
	d = d/2 + rand.N(d/2+1)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
