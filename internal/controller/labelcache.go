package controller

import (
	"sync"

	corev1 "k8s.io/api/core/v1"

	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/store"
)

// labelCache is the endpoint label controller's informer cache: WorkloadEndpoints, Pods,
// Namespaces and ServiceAccounts, with WorkloadEndpoints indexed by pod and by namespace so
// that one event names the endpoints it touches (a namespace's or service account's
// change touches that namespace's endpoints only).
type labelCache struct {
	mu    sync.Mutex
	weps  map[string]*model.WorkloadEndpoint
	byPod map[string]map[string]bool // ns/pod -> endpoint keys
	byNS  map[string]map[string]bool // ns -> endpoint keys
	pods  map[string]*corev1.Pod
	nss   map[string]map[string]string // namespace -> labels
	sas   map[string]map[string]string // ns/name -> labels
	dirty map[string]bool              // endpoint keys to plan again
	all   bool
}

func newLabelCache() *labelCache {
	return &labelCache{weps: map[string]*model.WorkloadEndpoint{}, byPod: map[string]map[string]bool{},
		byNS: map[string]map[string]bool{}, pods: map[string]*corev1.Pod{},
		nss: map[string]map[string]string{}, sas: map[string]map[string]string{}, dirty: map[string]bool{}}
}

func (c *labelCache) replace(k *model.Kind, objs []model.Object) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch k {
	case model.KindWorkloadEndpoint:
		c.weps, c.byPod, c.byNS = map[string]*model.WorkloadEndpoint{}, map[string]map[string]bool{}, map[string]map[string]bool{}
	case model.KindPod:
		c.pods = map[string]*corev1.Pod{}
	case model.KindNamespace:
		c.nss = map[string]map[string]string{}
	case model.KindServiceAccount:
		c.sas = map[string]map[string]string{}
	}
	for _, o := range objs {
		c.set(o, false)
	}
	c.all = true
}

func (c *labelCache) apply(_ *model.Kind, ev store.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.set(ev.Object, ev.Type == store.EventDeleted)
}

// set stores (or, when gone, removes) o and marks the endpoints it touches.
func (c *labelCache) set(o model.Object, gone bool) {
	key := keyOf(o)
	switch o := o.(type) {
	case *model.WorkloadEndpoint:
		if old := c.weps[key]; old != nil {
			delKey(c.byPod, Key(old.Namespace, old.Spec.Pod), key)
			delKey(c.byNS, old.Namespace, key)
			delete(c.weps, key)
		}
		if !gone {
			c.weps[key] = o
			addKey(c.byPod, Key(o.Namespace, o.Spec.Pod), key)
			addKey(c.byNS, o.Namespace, key)
			c.dirty[key] = true
		}
	case *corev1.Pod:
		delete(c.pods, key)
		if !gone {
			c.pods[key] = o
		}
		c.touch(c.byPod[key])
	case *corev1.Namespace:
		delete(c.nss, o.Name)
		if !gone {
			c.nss[o.Name] = o.Labels
		}
		c.touch(c.byNS[o.Name])
	case *corev1.ServiceAccount:
		delete(c.sas, key)
		if !gone {
			c.sas[key] = o.Labels
		}
		c.touch(c.byNS[o.Namespace])
	}
}

func (c *labelCache) touch(keys map[string]bool) {
	for k := range keys {
		c.dirty[k] = true
	}
}

// plan plans the endpoints to plan (every one when all, or after a re-list) from the cache.
func (c *labelCache) plan(all bool) []*model.WorkloadEndpoint {
	c.mu.Lock()
	defer c.mu.Unlock()
	var weps []*model.WorkloadEndpoint
	if all || c.all {
		for _, w := range c.weps {
			weps = append(weps, w)
		}
	} else {
		for k := range c.dirty {
			if w := c.weps[k]; w != nil {
				weps = append(weps, w)
			}
		}
	}
	c.dirty, c.all = map[string]bool{}, false
	return PlanEndpointLabelsOf(weps, EndpointLabelInputs{
		Pod:                  func(ns, name string) *corev1.Pod { return c.pods[Key(ns, name)] },
		NamespaceLabels:      func(ns string) map[string]string { return c.nss[ns] },
		ServiceAccountLabels: func(ns, name string) map[string]string { return c.sas[Key(ns, name)] },
	})
}

// again marks endpoints to plan again (their writes failed).
func (c *labelCache) again(keys ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, k := range keys {
		c.dirty[k] = true
	}
}
