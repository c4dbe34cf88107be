package ipamstore

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/trellisnet/trellis/internal/ipam"
	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/store"
)

// Check runs ipam.Check against the store: an allocation made for a workload (its
// attributes name a container or a pod) is in use while that workload's endpoint holds its
// address (Workloads.Holds); a node exists when a Calico Node or a Kubernetes Node of that
// name does.
func Check(ctx context.Context, st store.Store) (ipam.Report, error) {
	snap, err := ipam.New(New(st), Match).Snapshot(ctx)
	if err != nil {
		return ipam.Report{}, err
	}
	held, err := ListWorkloads(ctx, st)
	if err != nil {
		return ipam.Report{}, err
	}
	nodes, err := nodeNames(ctx, st)
	if err != nil {
		return ipam.Report{}, err
	}
	return ipam.Check(snap, held.InUse, func(n string) bool { return nodes[n] }), nil
}

// nodeNames lists Calico and Kubernetes node names.
func nodeNames(ctx context.Context, st store.Store) (map[string]bool, error) {
	out := map[string]bool{}
	for _, k := range []*model.Kind{model.KindNode, model.KindK8sNode} {
		res, err := st.List(ctx, k, store.ListOptions{})
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", k.Resource(), err)
		}
		for _, obj := range res.Items {
			out[obj.GetName()] = true
		}
	}
	return out, nil
}

// Collector releases confirmed leaks: addresses Check has reported continuously for the
// grace period. Run it in one place per cluster (the agent's leader, or a controller).
type Collector struct {
	store    store.Store
	tracker  ipam.LeakTracker
	interval time.Duration
	log      *slog.Logger
}

// Default collector timing.
const (
	DefaultLeakGrace    = 15 * time.Minute
	DefaultLeakInterval = time.Minute
)

// NewCollector returns a collector; it does no I/O until Run or CollectOnce.
func NewCollector(st store.Store, grace, interval time.Duration, log *slog.Logger) *Collector {
	return &Collector{store: st, tracker: ipam.LeakTracker{Grace: grace}, interval: interval, log: log}
}

// CollectOnce checks the store at now and releases the confirmed leaks, each only if it
// still has the handle and sequence number it was reported with.
func (c *Collector) CollectOnce(ctx context.Context, now time.Time) ([]ipam.ReleaseOutcome, error) {
	rep, err := Check(ctx, c.store)
	if err != nil {
		return nil, err
	}
	confirmed := c.tracker.Observe(rep, now)
	if len(confirmed) == 0 {
		return nil, nil
	}
	reqs := make([]ipam.ReleaseRequest, len(confirmed))
	for i, al := range confirmed {
		seq := al.Sequence
		reqs[i] = ipam.ReleaseRequest{Addr: al.Addr, Handle: al.Handle, Sequence: &seq}
	}
	return ipam.New(New(c.store), Match).Release(ctx, reqs)
}

// Run collects every interval until ctx ends.
func (c *Collector) Run(ctx context.Context) error {
	t := time.NewTicker(c.interval)
	defer t.Stop()
	for {
		out, err := c.CollectOnce(ctx, time.Now())
		if err != nil {
			c.log.Warn("ipam leak collection failed", "error", err)
		}
		for _, o := range out {
			c.log.Info("released leaked address", "addr", o.Addr, "handle", o.Handle, "status", o.Status)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
