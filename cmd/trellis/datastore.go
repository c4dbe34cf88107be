package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/trellisnet/trellis/internal/ctl"
	"github.com/trellisnet/trellis/internal/healthsrv"
	"github.com/trellisnet/trellis/internal/store"
	"github.com/trellisnet/trellis/internal/store/embed"
)

// newDatastoreCmd returns `trellis datastore`, whose `run` subcommand serves the embedded
// etcd datastore until SIGINT or SIGTERM.
func newDatastoreCmd(o *ctl.Options) *cobra.Command {
	c := &cobra.Command{
		Use:   "datastore",
		Short: "Run the embedded datastore",
		Args:  cobra.NoArgs,
	}
	c.AddCommand(newDatastoreRunCmd(o))
	return c
}

func newDatastoreRunCmd(o *ctl.Options) *cobra.Command {
	var dataDir string
	var listen []string
	var tls embed.TLSConfig
	var healthAddr string
	c := &cobra.Command{
		Use:   "run",
		Short: "Serve the embedded etcd datastore until interrupted",
		Long: "Serve an embedded single-member etcd datastore until SIGINT or SIGTERM.\n" +
			"Clients (every other trellis command, node agents, the CNI plugin) connect to it\n" +
			"with --datastore-endpoints, whose default is this command's default address.\n\n" +
			"--health-addr serves /healthz, /readyz (a leader, no alarm) and /metrics: etcd's own\n" +
			"etcd_* families (etcd_server_has_leader, etcd_mvcc_*, etcd_disk_*, ...) with go_* and process_*.",
		Example: "  trellis datastore run\n  trellis datastore run --data-dir /tmp/trellis --listen-client unix:///tmp/trellis/ds.sock",
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return ctl.Usagef("datastore run takes no arguments, got %q", args)
			}
			return nil
		},
		RunE: func(c *cobra.Command, _ []string) error {
			for _, l := range listen {
				if err := checkClientURL(l); err != nil {
					return err
				}
			}
			if err := checkHealthAddr(healthAddr); err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(c.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if (tls.CertFile == "") != (tls.KeyFile == "") || (tls.ClientCAFile != "" && tls.CertFile == "") {
				return ctl.Usagef("--cert-file and --key-file go together, and --client-ca-file needs them")
			}
			return runDatastore(ctx, c, o, embed.Config{DataDir: dataDir, ListenClientURLs: listen, TLS: tls}, healthAddr)
		},
	}
	c.Flags().StringVar(&dataDir, "data-dir", embed.DefaultDataDir, "directory of the datastore's write-ahead log and database")
	c.Flags().StringSliceVar(&listen, "listen-client", []string{store.DefaultEndpoint}, "client URLs to serve on: unix:///PATH, http://IP:PORT (comma-separated or repeated)")
	c.Flags().StringVar(&tls.CertFile, "cert-file", "", "server certificate for https:// and unixs:// client URLs")
	c.Flags().StringVar(&tls.KeyFile, "key-file", "", "server key for --cert-file")
	c.Flags().StringVar(&tls.ClientCAFile, "client-ca-file", "", "require client certificates signed by this CA")
	addHealthFlag(c, &healthAddr)
	return c
}

func runDatastore(ctx context.Context, c *cobra.Command, o *ctl.Options, cfg embed.Config, healthAddr string) error {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg.Logger = log.With("component", "datastore")
	srv := embed.New(cfg)
	// Served before the member starts, so a probe sees "not running" rather than nothing.
	hs, err := healthsrv.Start(ctx, healthsrv.Config{Addr: healthAddr, Gatherer: embed.Gatherer(), Ready: srv.Ready}, cfg.Logger)
	if err != nil {
		return err
	}
	defer hs.Close()
	if err := srv.Start(ctx); err != nil {
		return err
	}
	defer srv.Stop()
	fmt.Fprintf(c.OutOrStdout(), "datastore ready on %s (data dir %s)\n", strings.Join(srv.ClientURLs(), ","), cfg.DataDir)
	select {
	case <-ctx.Done():
		cfg.Logger.Info("datastore stopping")
		return nil
	case err := <-srv.Err():
		return fmt.Errorf("datastore: %w", err)
	}
}

func checkClientURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return ctl.Usagef("--listen-client %q: %v", raw, err)
	}
	switch u.Scheme {
	case "unix", "unixs":
		if u.Host+u.Path == "" {
			return ctl.Usagef("--listen-client %q: no socket path (use unix:///PATH)", raw)
		}
	case "http", "https":
		if u.Port() == "" {
			return ctl.Usagef("--listen-client %q: no port (use http://IP:PORT)", raw)
		}
	default:
		return ctl.Usagef("--listen-client %q: scheme must be unix, unixs, http or https", raw)
	}
	return nil
}
