package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/trellisnet/trellis/internal/admission"
	"github.com/trellisnet/trellis/internal/controller"
	"github.com/trellisnet/trellis/internal/ctl"
	"github.com/trellisnet/trellis/internal/healthsrv"
	"github.com/trellisnet/trellis/internal/ipam/ipamstore"
	"github.com/trellisnet/trellis/internal/store"
)

// newControllerCmd returns `trellis controller run`: the cluster controllers (Service
// allocator, LoadBalancer IPAM, EndpointSlices, endpoint labels, namespace deletion) over
// the datastore. The lab runs them in
// its controller process; a cluster without Kubernetes' own controllers runs this once.
func newControllerCmd(o *ctl.Options) *cobra.Command {
	c := &cobra.Command{
		Use:   "controller",
		Short: "Cluster controllers: service IPs and node ports, LoadBalancer IPs, EndpointSlices, endpoint labels, namespace deletion, IPAM clean-up",
		Args:  cobra.NoArgs,
	}
	var f controllerFlags
	var wh webhookFlags
	run := &cobra.Command{
		Use:   "run [--service-cidr 10.96.0.0/16] [--node-port-range 30000-32767]",
		Short: "Run the controllers until interrupted (one instance per cluster)",
		Long: "Give Services their cluster IPs (from --service-cidr, one per family), node ports and\n" +
			"health-check node ports, LoadBalancer services addresses from the IPPools with\n" +
			"allowedUses: [LoadBalancer], and keep EndpointSlices in step with the Pods each\n" +
			"selector Service selects, WorkloadEndpoint labels with their pod's, namespace's and\n" +
			"service account's, and delete what remains in a deleted Namespace (as Kubernetes'\n" +
			"namespace controller does). Every write is compare-and-swap. Over a Kubernetes\n" +
			"datastore (--datastore-type kubernetes) LoadBalancer IPAM runs with what Calico's\n" +
			"kube-controllers do for IPAM: the IPAM state of a deleted Kubernetes Node is\n" +
			"released once no pod holds its addresses (nodes), and an address no pod holds any\n" +
			"more (a pod deleted without a CNI DEL) is released after --ipam-gc-grace (ipamgc);\n" +
			"Kubernetes itself allocates, keeps EndpointSlices and deletes namespaces.\n\n" +
			"--health-addr serves /healthz, /readyz (loops started, datastore reachable, webhook serving) and\n" +
			"/metrics: trellis_loop_* per loop, trellis_ipam_pool_* per IPPool, trellis_admission_*\n" +
			"(webhook reviews by kind, operation and verdict), trellis_datastore_up.",
		Example: "  trellis controller run --service-cidr 10.96.0.0/16 --reserved 10.96.0.10",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			cfg, err := f.config()
			if err != nil {
				return err
			}
			if err := wh.check(); err != nil {
				return err
			}
			if err := checkHealthAddr(f.healthAddr); err != nil {
				return err
			}
			if k := c.Flags().Lookup("kubeconfig"); k != nil {
				wh.kubeconfig = k.Value.String()
			}
			cfg.DatastoreEndpoint = o.Datastore
			return runWithStore(c, o, "cluster-controllers", serveControllers(cfg, wh, f.healthAddr))
		},
	}
	run.Flags().StringSliceVar(&f.cidrs, "service-cidr", []string{controller.DefaultServiceCIDR.String()}, "service cluster IP ranges, one per family (the first is the primary family)")
	run.Flags().StringSliceVar(&f.reserved, "reserved", []string{controller.DefaultDNSAddr.String()}, "cluster IPs never handed out automatically")
	run.Flags().StringVar(&f.ports, "node-port-range", "30000-32767", "node port range LOW-HIGH")
	run.Flags().StringSliceVar(&f.loops, "controllers", controller.AllLoops, "the loops to run: services (cluster IPs, node ports, LoadBalancer IPs), endpointslices, endpointlabels (WorkloadEndpoint labels), namespaces (empty deleted namespaces), nodes (IPAM of deleted nodes), ipamgc (leaked pod addresses); on Kubernetes its own controllers do endpointslices and namespaces, and nodes and ipamgc run only there")
	run.Flags().DurationVar(&f.gcGrace, "ipam-gc-grace", ipamstore.DefaultLeakGrace, "release a pod address no pod has held for this long (ipamgc, Kubernetes datastore; 0: off)")
	addWebhookFlags(run, &wh)
	addHealthFlag(run, &f.healthAddr)
	c.AddCommand(run)
	return c
}

// controllerFlags are `controller run`'s own flags, but the webhook's.
type controllerFlags struct {
	cidrs, reserved, loops []string
	ports                  string
	gcGrace                time.Duration
	healthAddr             string
}

// config parses and checks the flags into a controller configuration.
func (f controllerFlags) config() (controller.Config, error) {
	cfg := controller.Config{}
	for _, s := range f.cidrs {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return cfg, ctl.Usagef("invalid --service-cidr %q: %v", s, err)
		}
		cfg.ServiceCIDRs = append(cfg.ServiceCIDRs, p)
	}
	for _, s := range f.reserved {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return cfg, ctl.Usagef("invalid --reserved %q: %v", s, err)
		}
		cfg.Reserved = append(cfg.Reserved, a)
	}
	lo, hi, ok := strings.Cut(f.ports, "-")
	l, lerr := strconv.ParseInt(lo, 10, 32)
	h, herr := strconv.ParseInt(hi, 10, 32)
	if !ok || lerr != nil || herr != nil {
		return cfg, ctl.Usagef("invalid --node-port-range %q: want LOW-HIGH", f.ports)
	}
	cfg.NodePortMin, cfg.NodePortMax = int32(l), int32(h)
	cfg.Loops, cfg.IPAMGCGrace = f.loops, f.gcGrace
	if err := cfg.Validate(); err != nil {
		return cfg, ctl.UsageError{Err: fmt.Errorf("controller run: %w", err)}
	}
	return cfg, nil
}

// serveControllers runs the controllers, the webhook (when configured) and their health
// and metrics server over a store.
func serveControllers(cfg controller.Config, wh webhookFlags, healthAddr string) func(context.Context, store.Store, *slog.Logger) error {
	return func(ctx context.Context, st store.Store, log *slog.Logger) error {
		cc, err := controller.New(cfg, st, log)
		if err != nil {
			return err
		}
		var serving atomic.Bool
		reviews := admission.NewMetrics()
		webhookReg := prometheus.NewRegistry()
		webhookReg.MustRegister(reviews.Collectors()...)
		srv, err := healthsrv.Start(ctx, healthsrv.Config{Addr: healthAddr, Gatherer: prometheus.Gatherers{cc.Gatherer(), webhookReg},
			Ready: wh.ready(cc.Ready, &serving)}, log)
		if err != nil {
			return err
		}
		defer srv.Close()
		return runControllersAndWebhook(ctx, cc.Run, wh.start(ctx, st, log, &serving, reviews))
	}
}

// runWithStore runs a long-lived datastore service for command c: it opens the store,
// calls serve with it and o's logger tagged with component (a discarding one when o has
// none) until SIGINT or SIGTERM cancels ctx, and closes the store after.
func runWithStore(c *cobra.Command, o *ctl.Options, component string, serve func(ctx context.Context, st store.Store, log *slog.Logger) error) error {
	ctx, stop := signal.NotifyContext(c.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	st, err := o.OpenStoreWait(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return serve(ctx, st, log.With("component", component))
}

// runControllersAndWebhook runs the controllers until ctx ends; a webhook that fails ends
// the process too (a supervisor restarts it), since the API server refuses every Calico
// write while it is down (failurePolicy Fail).
func runControllersAndWebhook(ctx context.Context, run func(context.Context) error, webhook <-chan error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	select {
	case err := <-done:
		return err
	case err := <-webhook:
		cancel()
		<-done
		return err
	}
}
