package controller

import (
	"slices"
	"sync"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/store"
)

// sliceCache is the EndpointSlice controller's informer cache: Services, Pods and
// EndpointSlices with the indexes that let one event name the Services it touches.
type sliceCache struct {
	mu     sync.Mutex
	svcs   map[string]*corev1.Service
	svcIdx map[string]map[string]bool // ns \x00 k=v of the smallest selector key -> service keys
	pods   map[string]*corev1.Pod
	podIdx map[string]map[string]*corev1.Pod // ns \x00 k=v -> pod key -> pod
	slices map[string]*discoveryv1.EndpointSlice
	owned  map[string]map[string]bool // ns/service-name label -> slice keys
	dirty  map[string]bool            // service keys to plan again
	all    bool                       // plan every Service (after a re-list)
}

func newSliceCache() *sliceCache {
	return &sliceCache{svcs: map[string]*corev1.Service{}, svcIdx: map[string]map[string]bool{},
		pods: map[string]*corev1.Pod{}, podIdx: map[string]map[string]*corev1.Pod{},
		slices: map[string]*discoveryv1.EndpointSlice{}, owned: map[string]map[string]bool{},
		dirty: map[string]bool{}}
}

func labelKey(ns, k, v string) string { return ns + "\x00" + k + "=" + v }

// svcIndexKey is the index entry of a selector Service: its smallest selector key.
func svcIndexKey(s *corev1.Service) (string, bool) {
	if !selects(s) {
		return "", false
	}
	keys := make([]string, 0, len(s.Spec.Selector))
	for k := range s.Spec.Selector {
		keys = append(keys, k)
	}
	k := slices.Min(keys)
	return labelKey(s.Namespace, k, s.Spec.Selector[k]), true
}

func (c *sliceCache) replace(k *model.Kind, objs []model.Object) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch k {
	case model.KindService:
		c.svcs, c.svcIdx = map[string]*corev1.Service{}, map[string]map[string]bool{}
	case model.KindPod:
		c.pods, c.podIdx = map[string]*corev1.Pod{}, map[string]map[string]*corev1.Pod{}
	case model.KindEndpointSlice:
		c.slices, c.owned = map[string]*discoveryv1.EndpointSlice{}, map[string]map[string]bool{}
	}
	for _, o := range objs {
		c.set(keyOf(o), o)
	}
	c.all = true
}

func (c *sliceCache) apply(_ *model.Kind, ev store.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	key := keyOf(ev.Object)
	if ev.Type == store.EventDeleted {
		c.remove(key, ev.Object)
		return
	}
	c.set(key, ev.Object)
}

// set stores o and marks the Services its old and new state touch.
func (c *sliceCache) set(key string, o model.Object) {
	switch o := o.(type) {
	case *corev1.Service:
		c.remove(key, o)
		c.svcs[key] = o
		if ik, ok := svcIndexKey(o); ok {
			addKey(c.svcIdx, ik, key)
		}
		c.dirty[key] = true
	case *corev1.Pod:
		c.remove(key, o)
		c.pods[key] = o
		for lk, lv := range o.Labels {
			m := c.podIdx[labelKey(o.Namespace, lk, lv)]
			if m == nil {
				m = map[string]*corev1.Pod{}
				c.podIdx[labelKey(o.Namespace, lk, lv)] = m
			}
			m[key] = o
		}
		c.touchPod(o)
	case *discoveryv1.EndpointSlice:
		c.remove(key, o)
		c.slices[key] = o
		owner := Key(o.Namespace, o.Labels[LabelServiceName])
		addKey(c.owned, owner, key)
		c.dirty[owner] = true
	}
}

// remove drops the stored state of key (of o's kind), marking what it touched.
func (c *sliceCache) remove(key string, o model.Object) {
	switch o.(type) {
	case *corev1.Service:
		if old := c.svcs[key]; old != nil {
			if ik, ok := svcIndexKey(old); ok {
				delKey(c.svcIdx, ik, key)
			}
			delete(c.svcs, key)
		}
		c.dirty[key] = true
	case *corev1.Pod:
		if old := c.pods[key]; old != nil {
			c.touchPod(old)
			for lk, lv := range old.Labels {
				if m := c.podIdx[labelKey(old.Namespace, lk, lv)]; m != nil {
					delete(m, key)
					if len(m) == 0 {
						delete(c.podIdx, labelKey(old.Namespace, lk, lv))
					}
				}
			}
			delete(c.pods, key)
		}
	case *discoveryv1.EndpointSlice:
		if old := c.slices[key]; old != nil {
			owner := Key(old.Namespace, old.Labels[LabelServiceName])
			delKey(c.owned, owner, key)
			c.dirty[owner] = true
			delete(c.slices, key)
		}
	}
}

// touchPod marks the Services that select p.
func (c *sliceCache) touchPod(p *corev1.Pod) {
	set := labels.Set(p.Labels)
	for lk, lv := range p.Labels {
		for sk := range c.svcIdx[labelKey(p.Namespace, lk, lv)] {
			if s := c.svcs[sk]; s != nil && labels.SelectorFromSet(s.Spec.Selector).Matches(set) {
				c.dirty[sk] = true
			}
		}
	}
}

func addKey(m map[string]map[string]bool, k, v string) {
	if m[k] == nil {
		m[k] = map[string]bool{}
	}
	m[k][v] = true
}

func delKey(m map[string]map[string]bool, k, v string) {
	if s := m[k]; s != nil {
		delete(s, v)
		if len(s) == 0 {
			delete(m, k)
		}
	}
}

// plan takes the Services to plan (every one when all, or after a re-list) and plans
// them from the cache.
func (c *sliceCache) plan(all bool) SlicePlan {
	c.mu.Lock()
	defer c.mu.Unlock()
	var keys []string
	if all || c.all {
		for k := range c.svcs {
			keys = append(keys, k)
		}
		for k := range c.owned {
			keys = append(keys, k)
		}
	} else {
		for k := range c.dirty {
			keys = append(keys, k)
		}
	}
	c.dirty, c.all = map[string]bool{}, false
	return PlanServiceSlices(keys, SliceInputs{Service: c.service, Pods: c.candidates, Slice: c.slice, Owned: c.ownedBy})
}

func (c *sliceCache) service(k string) *corev1.Service          { return c.svcs[k] }
func (c *sliceCache) slice(k string) *discoveryv1.EndpointSlice { return c.slices[k] }

func (c *sliceCache) ownedBy(k string) []*discoveryv1.EndpointSlice {
	var out []*discoveryv1.EndpointSlice
	for sk := range c.owned[k] {
		out = append(out, c.slices[sk])
	}
	return out
}

// candidates returns the pods of svc's namespace carrying the rarest of its selector's
// labels.
func (c *sliceCache) candidates(svc *corev1.Service) []*corev1.Pod {
	var best map[string]*corev1.Pod
	first := true
	for k, v := range svc.Spec.Selector {
		if m := c.podIdx[labelKey(svc.Namespace, k, v)]; first || len(m) < len(best) {
			best, first = m, false
		}
	}
	out := make([]*corev1.Pod, 0, len(best))
	for _, p := range best {
		out = append(out, p)
	}
	return out
}

// again marks keys to plan again (their writes failed).
func (c *sliceCache) again(keys ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, k := range keys {
		c.dirty[k] = true
	}
}
