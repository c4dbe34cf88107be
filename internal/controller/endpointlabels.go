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
	"github.com/trellisnet/trellis/internal/store"
)

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
	var out []*model.WorkloadEndpoint
	for _, w := range weps {
		if w.Spec.Orchestrator != model.OrchestratorK8s || w.Spec.Pod == "" {
			continue
		}
		pod, ok := podBy[Key(w.Namespace, w.Spec.Pod)]
		if !ok {
			continue
		}
		sa := pod.Spec.ServiceAccountName
		if sa == "" {
			sa = "default"
		}
		want := model.EndpointLabels(w.Namespace, sa, pod.Labels, nsBy[w.Namespace], saBy[Key(w.Namespace, sa)])
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

// reconcileEndpointLabels writes PlanEndpointLabels' updates, each a compare-and-swap on
// the endpoint's resourceVersion; a conflict is retried by the loop.
func (c *Controller) reconcileEndpointLabels(ctx context.Context) error {
	weps, err := list[*model.WorkloadEndpoint](ctx, c.st, model.KindWorkloadEndpoint)
	if err != nil {
		return err
	}
	pods, err := list[*corev1.Pod](ctx, c.st, model.KindPod)
	if err != nil {
		return err
	}
	nss, err := list[*corev1.Namespace](ctx, c.st, model.KindNamespace)
	if err != nil {
		return err
	}
	sas, err := list[*corev1.ServiceAccount](ctx, c.st, model.KindServiceAccount)
	if err != nil {
		return err
	}
	var errs []error
	for _, w := range PlanEndpointLabels(weps, pods, nss, sas) {
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := c.st.Update(wctx, w)
		cancel()
		switch {
		case err == nil:
			c.log.Info("workload endpoint labels updated", "endpoint", Key(w.Namespace, w.Name))
		case !errors.Is(err, store.ErrNotFound):
			errs = append(errs, fmt.Errorf("update workload endpoint %s: %w", Key(w.Namespace, w.Name), err))
		}
	}
	return errors.Join(errs...)
}
