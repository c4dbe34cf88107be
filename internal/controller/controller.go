package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/store"
	"github.com/trellisnet/trellis/internal/store/reach"
)

// Controller runs the Service allocator with LoadBalancer IPAM, and the EndpointSlice
// controller, each a loop over list + watch of the store.
type Controller struct {
	cfg Config
	st  store.Store
	log *slog.Logger
}

// New returns the controllers over st; it does no I/O and starts nothing.
func New(cfg Config, st store.Store, log *slog.Logger) (*Controller, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Controller{cfg: cfg.withDefaults(), st: st, log: log}, nil
}

// Run runs every loop until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	loops := []*loop{
		{name: "services", kinds: []*model.Kind{model.KindService, model.KindIPPool}, reconcile: c.reconcileServices},
		{name: "endpointslices", kinds: []*model.Kind{model.KindService, model.KindPod, model.KindEndpointSlice}, reconcile: c.reconcileSlices},
		{name: "endpointlabels", kinds: []*model.Kind{model.KindWorkloadEndpoint, model.KindPod, model.KindNamespace, model.KindServiceAccount}, reconcile: c.reconcileEndpointLabels},
	}
	var wg sync.WaitGroup
	// An unreachable datastore is logged; when it answers again every loop re-watches
	// and reconciles from a fresh list.
	mon := reach.New(reach.Config{Endpoint: c.cfg.DatastoreEndpoint}, c.st, c.log.With("component", "datastore"))
	wg.Go(func() { mon.Run(ctx) })
	for _, l := range loops {
		l.st, l.resync, l.log, l.back = c.st, c.cfg.Resync, c.log.With("loop", l.name), mon.Back
		wg.Go(func() { l.run(ctx) })
	}
	c.log.Info("cluster controllers started", "serviceCIDRs", c.cfg.ServiceCIDRs,
		"nodePorts", fmt.Sprintf("%d-%d", c.cfg.NodePortMin, c.cfg.NodePortMax))
	wg.Wait()
	return nil
}

func list[T any](ctx context.Context, st store.Store, k *model.Kind) ([]T, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	res, err := st.List(ctx, k, store.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", k.Plural, err)
	}
	out := make([]T, 0, len(res.Items))
	for _, o := range res.Items {
		if t, ok := o.(T); ok {
			out = append(out, t)
		}
	}
	return out, nil
}

// reconcileServices allocates and writes; a conflict returns an error so the loop
// retries with fresh data.
func (c *Controller) reconcileServices(ctx context.Context) error {
	svcs, err := list[*corev1.Service](ctx, c.st, model.KindService)
	if err != nil {
		return err
	}
	pools, err := list[*model.IPPool](ctx, c.st, model.KindIPPool)
	if err != nil {
		return err
	}
	updates, problems := PlanServices(svcs, pools, c.cfg)
	for _, p := range problems {
		c.log.Warn("service allocation incomplete", "err", p)
	}
	var errs []error
	for _, s := range updates {
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := c.st.Update(wctx, s)
		cancel()
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			errs = append(errs, fmt.Errorf("update service %s: %w", Key(s.Namespace, s.Name), err))
			continue
		}
		if err == nil {
			c.log.Info("service allocated", "service", Key(s.Namespace, s.Name), "clusterIPs", s.Spec.ClusterIPs,
				"nodePorts", nodePorts(s), "healthCheckNodePort", s.Spec.HealthCheckNodePort, "loadBalancer", lbIPs(s))
		}
	}
	return errors.Join(errs...)
}

func nodePorts(s *corev1.Service) []int32 {
	var out []int32
	for _, p := range s.Spec.Ports {
		if p.NodePort != 0 {
			out = append(out, p.NodePort)
		}
	}
	return out
}

func lbIPs(s *corev1.Service) []string {
	var out []string
	for _, in := range s.Status.LoadBalancer.Ingress {
		out = append(out, in.IP)
	}
	return out
}

func (c *Controller) reconcileSlices(ctx context.Context) error {
	svcs, err := list[*corev1.Service](ctx, c.st, model.KindService)
	if err != nil {
		return err
	}
	pods, err := list[*corev1.Pod](ctx, c.st, model.KindPod)
	if err != nil {
		return err
	}
	stored, err := list[*discoveryv1.EndpointSlice](ctx, c.st, model.KindEndpointSlice)
	if err != nil {
		return err
	}
	plan := PlanSlices(svcs, pods, stored)
	for _, p := range plan.Problems {
		c.log.Warn("endpoint slice not written", "err", p)
	}
	var errs []error
	write := func(op string, s *discoveryv1.EndpointSlice, fn func(context.Context) error) {
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if err := fn(wctx); err != nil {
			errs = append(errs, fmt.Errorf("%s endpoint slice %s: %w", op, Key(s.Namespace, s.Name), err))
			return
		}
		c.log.Debug("endpoint slice written", "op", op, "slice", Key(s.Namespace, s.Name), "endpoints", len(s.Endpoints))
	}
	for _, s := range plan.Create {
		write("create", s, func(ctx context.Context) error { _, err := c.st.Create(ctx, s); return err })
	}
	for _, s := range plan.Update {
		write("update", s, func(ctx context.Context) error { _, err := c.st.Update(ctx, s); return err })
	}
	for _, s := range plan.Delete {
		write("delete", s, func(ctx context.Context) error {
			_, err := c.st.Delete(ctx, model.KindEndpointSlice, s.Namespace, s.Name, store.DeleteOptions{ResourceVersion: s.ResourceVersion})
			if errors.Is(err, store.ErrNotFound) {
				return nil
			}
			return err
		})
	}
	return errors.Join(errs...)
}
