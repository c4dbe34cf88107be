package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/runner"
	"github.com/trellisnet/trellis/internal/store"
	"github.com/trellisnet/trellis/internal/store/reach"
)

// Controller runs the Service allocator with LoadBalancer IPAM, the EndpointSlice
// controller, the endpoint label controller and the namespace controller, each a loop
// over list + watch of the store; over a Kubernetes datastore LoadBalancer IPAM, the node
// IPAM clean-up and the IPAM garbage collector.
type Controller struct {
	cfg     Config
	st      store.Store
	log     *slog.Logger
	mon     *reach.Monitor // is the datastore reachable
	metrics *metrics
	running atomic.Bool // Run has started the loops
}

// New returns the controllers over st; it does no I/O and starts nothing.
func New(cfg Config, st store.Store, log *slog.Logger) (*Controller, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Controller{cfg: cfg.withDefaults(), st: st, log: log}
	c.mon = reach.New(reach.Config{Endpoint: c.cfg.DatastoreEndpoint}, st, log.With("component", "datastore"))
	c.metrics = newMetrics(st, c.mon.Collectors(), log)
	return c, nil
}

// Run runs every loop until ctx ends. With a store that keeps Calico's Kubernetes data
// model (store.DerivedEndpoints: a real Kubernetes control plane) LoadBalancer IPAM runs
// with what Calico's kube-controllers do for IPAM there: the nodes loop releases the IPAM
// state of deleted Kubernetes Nodes and ipamgc releases addresses of pods deleted without
// a CNI DEL. The API server allocates cluster IPs and node ports, kube-controller-manager
// keeps EndpointSlices and deletes namespaces, and endpoints carry their pod's labels.
func (c *Controller) Run(ctx context.Context) error {
	kubernetes := store.DerivedEndpoints(c.st)
	var loops []*loop
	if c.cfg.runs(LoopServices) {
		services := &loop{name: LoopServices, kinds: []*model.Kind{model.KindService, model.KindIPPool}, reconcile: c.reconcileServices}
		if kubernetes {
			services.name, services.reconcile = "loadbalancers", c.reconcileLoadBalancers
		}
		loops = append(loops, services)
	}
	if kubernetes && c.cfg.runs(LoopNodes) {
		// Pods are not watched: a deleted node waiting for its pods is looked at again on
		// the next Node event or resync.
		loops = append(loops, &loop{name: LoopNodes, kinds: []*model.Kind{model.KindK8sNode}, reconcile: c.reconcileNodes()})
	}
	var informed []*informedLoop
	if !kubernetes {
		slices, labels, namespaces := newSliceCache(), newLabelCache(), newNamespaceCache()
		for _, l := range []*informedLoop{
			{name: LoopEndpointSlices, kinds: []*model.Kind{model.KindService, model.KindPod, model.KindEndpointSlice},
				cache: slices, reconcile: c.reconcileSlices(slices)},
			{name: LoopEndpointLabels, kinds: []*model.Kind{model.KindWorkloadEndpoint, model.KindPod, model.KindNamespace, model.KindServiceAccount},
				cache: labels, reconcile: c.reconcileEndpointLabels(labels)},
			{name: LoopNamespaces, kinds: []*model.Kind{model.KindNamespace}, cache: namespaces, reconcile: c.reconcileNamespaces(namespaces)},
		} {
			if c.cfg.runs(l.name) {
				informed = append(informed, l)
			}
		}
	}
	var wg sync.WaitGroup
	// An unreachable datastore is logged; when it answers again every loop re-watches
	// and reconciles from a fresh list.
	mon := c.mon
	wg.Go(func() { mon.Run(ctx) })
	var names []string
	for _, l := range loops {
		l.st, l.resync, l.log, l.back, l.observer = c.st, c.cfg.Resync, c.log.With("loop", l.name), mon.Back, c.metrics.loops
		names = append(names, l.name)
		wg.Go(func() { l.run(ctx) })
	}
	for _, l := range informed {
		l.st, l.resync, l.log, l.observer = c.st, c.cfg.Resync, c.log.With("loop", l.name), c.metrics.loops
		names = append(names, l.name)
		wg.Go(func() { l.run(ctx) })
	}
	c.metrics.loops.Declare(names...)
	c.running.Store(true)
	defer c.running.Store(false)
	if kubernetes && c.cfg.runs(LoopIPAMGC) && c.cfg.IPAMGCGrace > 0 {
		names = append(names, LoopIPAMGC)
		wg.Go(func() { c.runIPAMGC(ctx) })
	}
	if kubernetes {
		c.log.Info("cluster controllers started", "controllers", names, "kubernetesDatastore", true, "ipamGCGrace", c.cfg.IPAMGCGrace,
			"left to Kubernetes", []string{"service allocation", "endpointslices", "namespace deletion"})
	} else {
		c.log.Info("cluster controllers started", "controllers", names, "serviceCIDRs", c.cfg.ServiceCIDRs,
			"nodePorts", fmt.Sprintf("%d-%d", c.cfg.NodePortMin, c.cfg.NodePortMax))
	}
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

// reconcileLoadBalancers gives LoadBalancer Services their addresses (status only): the
// Kubernetes datastore's services loop.
func (c *Controller) reconcileLoadBalancers(ctx context.Context) error {
	svcs, err := list[*corev1.Service](ctx, c.st, model.KindService)
	if err != nil {
		return err
	}
	pools, err := list[*model.IPPool](ctx, c.st, model.KindIPPool)
	if err != nil {
		return err
	}
	updates, problems := PlanLoadBalancers(svcs, pools)
	for _, p := range problems {
		c.log.Warn("load-balancer assignment incomplete", "err", p)
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
			c.log.Info("load-balancer addresses assigned", "service", Key(s.Namespace, s.Name), "loadBalancer", lbIPs(s))
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

// reconcileSlices plans the Services the events since the last run touched (every one
// on start, on resync and after a re-list) from the cache and writes the plan; a write
// that fails plans its Service again on the retry.
func (c *Controller) reconcileSlices(cache *sliceCache) runner.Func {
	return func(ctx context.Context, why runner.Reason) error {
		plan := cache.plan(full(why))
		for _, p := range plan.Problems {
			c.log.Warn("endpoint slice not written", "err", p)
		}
		var errs []error
		write := func(op string, s *discoveryv1.EndpointSlice, fn func(context.Context) (model.Object, error)) {
			wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			o, err := fn(wctx)
			if err != nil {
				cache.again(Key(s.Namespace, s.Labels[LabelServiceName]))
				errs = append(errs, fmt.Errorf("%s endpoint slice %s: %w", op, Key(s.Namespace, s.Name), err))
				return
			}
			if o != nil { // write-through: the next run need not wait for the watch event
				cache.apply(model.KindEndpointSlice, store.Event{Type: store.EventModified, Object: o})
			} else {
				cache.apply(model.KindEndpointSlice, store.Event{Type: store.EventDeleted, Object: s})
			}
			c.log.Debug("endpoint slice written", "op", op, "slice", Key(s.Namespace, s.Name), "endpoints", len(s.Endpoints))
		}
		for _, s := range plan.Create {
			write("create", s, func(ctx context.Context) (model.Object, error) { return c.st.Create(ctx, s) })
		}
		for _, s := range plan.Update {
			write("update", s, func(ctx context.Context) (model.Object, error) { return c.st.Update(ctx, s) })
		}
		for _, s := range plan.Delete {
			write("delete", s, func(ctx context.Context) (model.Object, error) {
				_, err := c.st.Delete(ctx, model.KindEndpointSlice, s.Namespace, s.Name, store.DeleteOptions{ResourceVersion: s.ResourceVersion})
				if errors.Is(err, store.ErrNotFound) {
					return nil, nil
				}
				return nil, err
			})
		}
		return errors.Join(errs...)
	}
}
