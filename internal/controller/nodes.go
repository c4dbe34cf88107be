package controller

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/trellisnet/trellis/internal/ipam"
	"github.com/trellisnet/trellis/internal/ipam/ipamstore"
	"github.com/trellisnet/trellis/internal/model"
)

// ipamTimeout bounds one reconciliation's reads and releases of IPAM objects.
const ipamTimeout = 30 * time.Second

// reconcileNodes releases the IPAM state of nodes IPAM names that are no longer
// Kubernetes Nodes (PlanNodeRelease): once no pod holds one of its addresses, the node's
// leftover addresses, its VXLAN tunnel address and its block affinities. A node still
// waiting for its pods is logged when the number of them changes.
func (c *Controller) reconcileNodes() func(context.Context) error {
	waiting := map[string]int{} // node -> addresses held when last logged
	return func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, ipamTimeout)
		defer cancel()
		nodes, err := list[*corev1.Node](ctx, c.st, model.KindK8sNode)
		if err != nil {
			return err
		}
		exists := make(map[string]bool, len(nodes))
		for _, n := range nodes {
			exists[n.Name] = true
		}
		a := ipam.New(ipamstore.New(c.st), ipamstore.Match)
		snap, err := a.Snapshot(ctx)
		if err != nil {
			return err
		}
		nodeExists := func(n string) bool { return exists[n] }
		// Pods are listed only when some node is gone.
		if len(PlanNodeRelease(snap, nodeExists, func(ipam.Allocation) (bool, bool) { return false, false })) == 0 {
			clear(waiting)
			return nil
		}
		workloads, err := ipamstore.ListWorkloads(ctx, c.st)
		if err != nil {
			return err
		}
		var errs []error
		gone := map[string]bool{}
		for _, p := range PlanNodeRelease(snap, nodeExists, workloads.Holds) {
			gone[p.Node] = true
			if !p.Ready() {
				if waiting[p.Node] != len(p.Held) {
					waiting[p.Node] = len(p.Held)
					c.log.Info("node deleted: its IPAM waits for its pods", "node", p.Node, "held", heldBy(p.Held))
				}
				continue
			}
			if err := c.releaseNode(ctx, a, p); err != nil {
				errs = append(errs, err)
			}
		}
		for n := range waiting {
			if !gone[n] {
				delete(waiting, n)
			}
		}
		return errors.Join(errs...)
	}
}

// releaseNode carries out a ready plan: the addresses first, each guarded by its handle
// and sequence number, then the tunnel handle and the affinities as DecommissionNode
// does (the Node objects are Kubernetes' own and already gone).
func (c *Controller) releaseNode(ctx context.Context, a *ipam.Allocator, p NodeRelease) error {
	reqs := make([]ipam.ReleaseRequest, len(p.Release))
	for i, al := range p.Release {
		seq := al.Sequence
		reqs[i] = ipam.ReleaseRequest{Addr: al.Addr, Handle: al.Handle, Sequence: &seq}
	}
	var released []netip.Addr
	if len(reqs) > 0 {
		out, err := a.Release(ctx, reqs)
		for _, o := range out {
			if o.Status == ipam.StatusReleased {
				released = append(released, o.Addr)
			}
		}
		if err != nil {
			return fmt.Errorf("release addresses of deleted node %s: %w", p.Node, err)
		}
	}
	if err := releaseNode(ctx, a, p.Node, p.Blocks); err != nil {
		return err
	}
	c.log.Info("node deleted: IPAM released", "node", p.Node, "addresses", released, "blocks", p.Blocks)
	return nil
}

// heldBy names the workloads of allocations, for the log.
func heldBy(als []ipam.Allocation) []string {
	out := make([]string, 0, len(als))
	for _, al := range als {
		w := al.Handle
		if pod := al.Attrs[ipam.AttrPod]; pod != "" {
			w = Key(al.Attrs[ipam.AttrNamespace], pod)
		}
		out = append(out, al.Addr.String()+" "+w)
	}
	return out
}

// runIPAMGC runs the leak collector: addresses whose pod no longer holds them are released
// once they have been leaked for Config.IPAMGCGrace.
func (c *Controller) runIPAMGC(ctx context.Context) {
	grace := c.cfg.IPAMGCGrace
	interval := min(ipamstore.DefaultLeakInterval, max(grace/4, 100*time.Millisecond))
	log := c.log.With("loop", LoopIPAMGC)
	if err := ipamstore.NewCollector(c.st, grace, interval, log).Run(ctx); err != nil {
		log.Error("ipam garbage collector stopped", "err", err)
	}
}
