package controller

import (
	"cmp"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// SlicePlan is what the EndpointSlice controller writes.
type SlicePlan struct {
	Create []*discoveryv1.EndpointSlice
	// Update carries the stored resourceVersion (compare-and-swap).
	Update []*discoveryv1.EndpointSlice
	Delete []*discoveryv1.EndpointSlice
	// Problems are slices that could not be written, e.g. a name taken by a slice this
	// controller does not manage.
	Problems []error
}

// SliceInputs are the indexed views of the stored objects that planning the slices of
// some Services reads (the controller's caches; PlanSlices builds them from lists).
type SliceInputs struct {
	// Service returns the Service of a namespace/name key, nil when there is none.
	Service func(key string) *corev1.Service
	// Pods returns a superset of the pods svc selects (DesiredSlices filters them).
	Pods func(svc *corev1.Service) []*corev1.Pod
	// Slice returns the stored slice of a namespace/name key, nil when there is none.
	Slice func(key string) *discoveryv1.EndpointSlice
	// Owned returns the stored slices of the Service of a key: those in its namespace
	// whose kubernetes.io/service-name label is its name.
	Owned func(key string) []*discoveryv1.EndpointSlice
}

// PlanSlices compares the desired slices of every Service with the stored ones. Slices
// not managed by this controller are never touched.
func PlanSlices(svcs []*corev1.Service, pods []*corev1.Pod, stored []*discoveryv1.EndpointSlice) SlicePlan {
	idx := indexPods(pods)
	svcBy := map[string]*corev1.Service{}
	keys := make([]string, 0, len(svcs))
	for _, s := range svcs {
		svcBy[Key(s.Namespace, s.Name)] = s
		keys = append(keys, Key(s.Namespace, s.Name))
	}
	have := map[string]*discoveryv1.EndpointSlice{}
	owned := map[string][]*discoveryv1.EndpointSlice{}
	for _, s := range stored {
		have[Key(s.Namespace, s.Name)] = s
		owner := Key(s.Namespace, s.Labels[LabelServiceName])
		if owned[owner] == nil && Managed(s) {
			keys = append(keys, owner) // a gone Service's slices are deleted
		}
		owned[owner] = append(owned[owner], s)
	}
	return PlanServiceSlices(keys, SliceInputs{
		Service: func(k string) *corev1.Service { return svcBy[k] },
		Pods:    idx.candidates,
		Slice:   func(k string) *discoveryv1.EndpointSlice { return have[k] },
		Owned:   func(k string) []*discoveryv1.EndpointSlice { return owned[k] },
	})
}

// PlanServiceSlices plans the slices of the Services of keys alone, whether they exist or
// not: their desired slices created or updated, their managed slices no longer wanted
// deleted. Planning a key whose Service and slices did not change plans nothing, so the
// keys of every Service an event may have touched can be given. Slices not managed by
// this controller are never touched.
func PlanServiceSlices(keys []string, in SliceInputs) SlicePlan {
	keys = slices.Clone(keys)
	slices.Sort(keys)
	keys = slices.Compact(keys)
	var plan SlicePlan
	want := map[string]bool{}
	for _, key := range keys {
		svc := in.Service(key)
		if svc == nil {
			continue
		}
		for _, d := range DesiredSlices(svc, in.Pods(svc)) {
			k := Key(d.Namespace, d.Name)
			want[k] = true
			cur := in.Slice(k)
			switch {
			case cur == nil:
				plan.Create = append(plan.Create, d)
			case !Managed(cur):
				plan.Problems = append(plan.Problems, fmt.Errorf("endpoint slice %s of service %s: the name is taken by a slice managed by %q",
					k, svc.Name, cur.Labels[LabelManagedBy]))
			case !sameContent(cur, d):
				u := cur.DeepCopy()
				u.Labels, u.OwnerReferences = d.Labels, d.OwnerReferences
				u.AddressType, u.Endpoints, u.Ports = d.AddressType, d.Endpoints, d.Ports
				plan.Update = append(plan.Update, u)
			}
		}
	}
	for _, key := range keys {
		for _, s := range in.Owned(key) {
			if Managed(s) && !want[Key(s.Namespace, s.Name)] {
				plan.Delete = append(plan.Delete, s)
			}
		}
	}
	slices.SortFunc(plan.Delete, func(a, b *discoveryv1.EndpointSlice) int {
		return cmp.Compare(Key(a.Namespace, a.Name), Key(b.Namespace, b.Name))
	})
	return plan
}
