package controller

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/runner"
	"github.com/trellisnet/trellis/internal/store"
)

// EndpointLabelInputs are the indexed views of the stored objects that planning the labels
// of some WorkloadEndpoints reads (the controller's cache; PlanEndpointLabels builds them
// from lists).
type EndpointLabelInputs struct {
	// Pod returns the pod of a namespace and name, nil when there is none.
	Pod func(ns, name string) *corev1.Pod
	// NamespaceLabels returns a namespace's labels (nil when it has none or is absent).
	NamespaceLabels func(ns string) map[string]string
	// ServiceAccountLabels returns a service account's labels.
	ServiceAccountLabels func(ns, name string) map[string]string
}

// PlanEndpointLabels returns the Kubernetes WorkloadEndpoints whose labels no longer match
// their pod's, namespace's and service account's labels, with the labels they should have
// (what Calico's kube-controllers do in etcd mode). Endpoints of pods that are gone are
// left alone: the CNI DEL and the IPAM leak collector deal with those.
func PlanEndpointLabels(weps []*model.WorkloadEndpoint, pods []*corev1.Pod, nss []*corev1.Namespace, sas []*corev1.ServiceAccount) []*model.WorkloadEndpoint {
	podBy := map[string]*corev1.Pod{}
	for _, p := range pods {
		podBy[Key(p.Namespace, p.Name)] = p
	}
	nsBy := map[string]map[string]string{}
	for _, n := range nss {
		nsBy[n.Name] = n.Labels
	}
	saBy := map[string]map[string]string{}
	for _, s := range sas {
		saBy[Key(s.Namespace, s.Name)] = s.Labels
	}
	return PlanEndpointLabelsOf(weps, EndpointLabelInputs{
		Pod:                  func(ns, name string) *corev1.Pod { return podBy[Key(ns, name)] },
		NamespaceLabels:      func(ns string) map[string]string { return nsBy[ns] },
		ServiceAccountLabels: func(ns, name string) map[string]string { return saBy[Key(ns, name)] },
	})
}

// PlanEndpointLabelsOf is PlanEndpointLabels over indexed inputs: only weps are planned.
func PlanEndpointLabelsOf(weps []*model.WorkloadEndpoint, in EndpointLabelInputs) []*model.WorkloadEndpoint {
	var out []*model.WorkloadEndpoint
	for _, w := range weps {
		if w.Spec.Orchestrator != model.OrchestratorK8s || w.Spec.Pod == "" {
			continue
		}
		pod := in.Pod(w.Namespace, w.Spec.Pod)
		if pod == nil {
			continue
		}
		sa := pod.Spec.ServiceAccountName
		if sa == "" {
			sa = "default"
		}
		want := model.EndpointLabels(w.Namespace, sa, pod.Labels, in.NamespaceLabels(w.Namespace), in.ServiceAccountLabels(w.Namespace, sa))
		if maps.Equal(want, w.Labels) && w.Spec.ServiceAccountName == sa {
			continue
		}
		next := model.Clone(w).(*model.WorkloadEndpoint)
		next.Labels = want
		next.Spec.ServiceAccountName = sa
		out = append(out, next)
	}
	slices.SortFunc(out, func(a, b *model.WorkloadEndpoint) int {
		return compareKeys(a.Namespace, a.Name, b.Namespace, b.Name)
	})
	return out
}

func compareKeys(ans, an, bns, bn string) int {
	if ans != bns {
		if ans < bns {
			return -1
		}
		return 1
	}
	switch {
	case an < bn:
		return -1
	case an > bn:
		return 1
	}
	return 0
}

// reconcileEndpointLabels writes the label updates of the endpoints the events since the
// last run touched (every endpoint on start, on resync and after a re-list), each a
// compare-and-swap on the endpoint's resourceVersion; a failed write is planned again on
// the retry.
func (c *Controller) reconcileEndpointLabels(cache *labelCache) runner.Func {
	return func(ctx context.Context, why runner.Reason) error {
		var errs []error
		for _, w := range cache.plan(full(why)) {
			wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			o, err := c.st.Update(wctx, w)
			cancel()
			switch {
			case err == nil:
				cache.apply(model.KindWorkloadEndpoint, store.Event{Type: store.EventModified, Object: o})
				c.log.Info("workload endpoint labels updated", "endpoint", Key(w.Namespace, w.Name))
			case !errors.Is(err, store.ErrNotFound):
				cache.again(Key(w.Namespace, w.Name))
				errs = append(errs, fmt.Errorf("update workload endpoint %s: %w", Key(w.Namespace, w.Name), err))
			}
		}
		return errors.Join(errs...)
	}
}
