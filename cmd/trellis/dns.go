package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/trellisnet/trellis/internal/ctl"
	"github.com/trellisnet/trellis/internal/dns"
	"github.com/trellisnet/trellis/internal/healthsrv"
	"github.com/trellisnet/trellis/internal/lab"
	"github.com/trellisnet/trellis/internal/store"
)

// newDNSCmd returns `trellis dns serve`: the cluster DNS server over the datastore.
func newDNSCmd(o *ctl.Options) *cobra.Command {
	c := &cobra.Command{
		Use:   "dns",
		Short: "Cluster DNS: answer <svc>.<ns>.svc.cluster.local from the datastore",
		Args:  cobra.NoArgs,
	}
	var cfg dns.Config
	var healthAddr string
	serve := &cobra.Command{
		Use:   "serve [--listen :53] [--zone cluster.local]",
		Short: "Serve the cluster zone over UDP and TCP (never forwards other names)",
		Long: "Answer A/AAAA for services (headless: their ready endpoints), SRV for named ports and\n" +
			"<dashed-ip>.<ns>.pod names, from a watch of Services and EndpointSlices. Names outside\n" +
			"the zone get NXDOMAIN: nothing is forwarded. The lab runs it as kube-system/trellis-dns\n" +
			"behind the Service kube-system/kube-dns.\n\n" +
			"--health-addr serves /healthz, /readyz (first list in) and /metrics: trellis_dns_queries_total\n" +
			"by type and rcode, trellis_dns_request_duration_seconds, trellis_dns_answer_records_total,\n" +
			"trellis_dns_services, trellis_datastore_up.",
		Example: "  trellis dns serve --listen 127.0.0.1:5353",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if _, _, err := net.SplitHostPort(cfg.Listen); err != nil {
				return ctl.Usagef("invalid --listen %q: want HOST:PORT", cfg.Listen)
			}
			if err := checkHealthAddr(healthAddr); err != nil {
				return err
			}
			cfg.DatastoreEndpoint = o.Datastore
			return runWithStore(c, o, "dns", func(ctx context.Context, st store.Store, log *slog.Logger) error {
				srv := dns.New(cfg, st, log)
				hs, err := healthsrv.Start(ctx, healthsrv.Config{Addr: healthAddr, Gatherer: srv.Gatherer(), Ready: srv.Ready}, log)
				if err != nil {
					return err
				}
				defer hs.Close()
				return srv.Run(ctx, nil)
			})
		},
	}
	serve.Flags().StringVar(&cfg.Listen, "listen", ":53", "HOST:PORT to serve on, UDP and TCP")
	serve.Flags().StringVar(&cfg.Zone, "zone", "cluster.local", "the cluster domain")
	addHealthFlag(serve, &healthAddr)
	c.AddCommand(serve, newDNSLookupCmd())
	return c
}

func newDNSLookupCmd() *cobra.Command {
	var server, qtype string
	var timeout time.Duration
	c := &cobra.Command{
		Use:   "lookup NAME [--server IP:53] [--type A|AAAA|SRV]",
		Short: "Resolve a name (through /etc/resolv.conf, or ask one server) and print the answers",
		Example: "  sudo trellis lab exec yaobank/customer -- trellis dns lookup summary\n" +
			"  trellis dns lookup --server 10.96.0.10:53 kube-dns.kube-system.svc.cluster.local",
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(c.Context(), timeout)
			defer cancel()
			r := &net.Resolver{PreferGo: true}
			if server != "" {
				if _, _, err := net.SplitHostPort(server); err != nil {
					return ctl.Usagef("invalid --server %q: want IP:PORT", server)
				}
				r.Dial = func(ctx context.Context, network, _ string) (net.Conn, error) {
					var d net.Dialer
					return d.DialContext(ctx, network, server)
				}
			}
			var out []string
			switch strings.ToUpper(qtype) {
			case "A", "AAAA":
				nw := "ip4"
				if strings.EqualFold(qtype, "AAAA") {
					nw = "ip6"
				}
				ips, err := r.LookupIP(ctx, nw, args[0])
				if err != nil {
					return fmt.Errorf("lookup %s: %w", args[0], err)
				}
				for _, ip := range ips {
					out = append(out, ip.String())
				}
			case "SRV":
				_, srvs, err := r.LookupSRV(ctx, "", "", args[0])
				if err != nil {
					return fmt.Errorf("lookup %s: %w", args[0], err)
				}
				for _, s := range srvs {
					out = append(out, fmt.Sprintf("%s:%d", s.Target, s.Port))
				}
			default:
				return ctl.Usagef("invalid --type %q: use A, AAAA or SRV", qtype)
			}
			slices.Sort(out)
			for _, l := range out {
				fmt.Fprintln(c.OutOrStdout(), l)
			}
			return nil
		},
	}
	c.Flags().StringVar(&server, "server", "", "ask this server (IP:PORT) instead of the ones in /etc/resolv.conf")
	c.Flags().StringVar(&qtype, "type", "A", "record type: A, AAAA or SRV")
	c.Flags().DurationVar(&timeout, "timeout", 5*time.Second, "how long to wait for the answer")
	return c
}

func newLabShimCmd() *cobra.Command {
	var resolv string
	c := &cobra.Command{
		Use:    "shim --resolv-conf FILE -- CMD [ARGS...]",
		Short:  "Run a container command with the cluster's resolv.conf in a private mount namespace (used by the lab)",
		Hidden: true,
		Args:   cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if resolv == "" {
				return ctl.Usagef("--resolv-conf is required")
			}
			return lab.ShimExec(resolv, args)
		},
	}
	c.Flags().SetInterspersed(false)
	c.Flags().StringVar(&resolv, "resolv-conf", "", "file to mount over /etc/resolv.conf")
	return c
}
