package ipamstore

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/trellisnet/trellis/internal/ipam"
	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/store"
)

// Workload is what a WorkloadEndpoint says about the workload holding an address.
type Workload struct {
	Namespace, Pod, ContainerID, Node string
}

// Workloads maps each address a WorkloadEndpoint holds to its workload. Over a store that
// derives endpoints (store.DerivedEndpoints) these are the running pods with the CNI's
// annotations: a pod that is gone, finished or not yet annotated holds nothing.
type Workloads map[netip.Addr]Workload

// ListWorkloads reads every WorkloadEndpoint.
func ListWorkloads(ctx context.Context, st store.Store) (Workloads, error) {
	res, err := st.List(ctx, model.KindWorkloadEndpoint, store.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list workloadendpoints: %w", err)
	}
	out := Workloads{}
	for _, obj := range res.Items {
		wep, ok := obj.(*model.WorkloadEndpoint)
		if !ok {
			continue
		}
		w := Workload{Namespace: wep.Namespace, Pod: wep.Spec.Pod, ContainerID: wep.Spec.ContainerID, Node: wep.Spec.Node}
		for _, n := range wep.Spec.IPNetworks {
			if p, err := ParseCIDROrAddr(n); err == nil {
				out[p.Addr()] = w
			}
		}
	}
	return out, nil
}

// Holds says whether al was made for a workload (its attributes name a container or a
// pod) and, if so, whether that workload still holds it: an endpoint has the address, with
// the same container ID when al names one and the same namespace and pod when al names
// one. A pod deleted without its CNI DEL, re-created elsewhere (it then holds another
// address) or whose sandbox was replaced (another container ID) does not hold it. The
// node is deliberately not compared: an endpoint showing the very address and container
// is better evidence than the node attribute recorded at assignment.
func (w Workloads) Holds(al ipam.Allocation) (workload, held bool) {
	cid, ns, pod := al.Attrs[ipam.AttrContainerID], al.Attrs[ipam.AttrNamespace], al.Attrs[ipam.AttrPod]
	if cid == "" && pod == "" {
		return false, false
	}
	h, ok := w[al.Addr]
	switch {
	case !ok:
		return true, false
	case cid != "" && h.ContainerID != cid:
		return true, false
	case pod != "" && (h.Namespace != ns || h.Pod != pod):
		return true, false
	}
	return true, true
}

// InUse is Check's notion of an allocation in use: it is no workload's (a tunnel address,
// say) or its workload holds it.
func (w Workloads) InUse(al ipam.Allocation) bool {
	workload, held := w.Holds(al)
	return !workload || held
}
