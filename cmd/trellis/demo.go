package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/trellisnet/trellis/internal/ctl"
	"github.com/trellisnet/trellis/internal/demo"
)

// newDemoCmd returns `trellis demo` with the lab's test workloads: http-server and udp-echo.
func newDemoCmd(o *ctl.Options) *cobra.Command {
	c := &cobra.Command{
		Use:   "demo",
		Short: "Run a test workload (for lab pods): an HTTP server or a UDP echo server",
		Args:  cobra.NoArgs,
	}
	c.AddCommand(newDemoServerCmd(o, "http-server", "Answer GET / with this pod's host name and address", 80, demo.ServeHTTP),
		newDemoServerCmd(o, "udp-echo", "Send every UDP datagram back to its sender", 53, demo.ServeUDPEcho),
		newDemoYAOBankCmd(o), newDemoFetchCmd(), newDemoLookupCmd())
	return c
}

// newDemoFetchCmd returns `trellis demo fetch URL`: an HTTP GET from inside a pod.
func newDemoFetchCmd() *cobra.Command {
	var timeout time.Duration
	c := &cobra.Command{
		Use:     "fetch URL [--timeout 5s]",
		Short:   "GET a URL and print the body (a pod's curl); exits 1 on failure",
		Example: "  kubectl exec deploy/web -- trellis demo fetch http://web.default.svc.cluster.local/",
		Args:    cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return demo.Fetch(c.Context(), args[0], timeout, c.OutOrStdout())
		},
	}
	c.Flags().DurationVar(&timeout, "timeout", 5*time.Second, "give up after this long")
	return c
}

// newDemoLookupCmd returns `trellis demo lookup NAME`: a DNS lookup from inside a pod.
func newDemoLookupCmd() *cobra.Command {
	var timeout time.Duration
	c := &cobra.Command{
		Use:     "lookup NAME [--timeout 5s]",
		Short:   "Resolve a name with the pod's DNS settings and print its addresses (a pod's dig); exits 1 on failure",
		Example: "  kubectl exec deploy/web -- trellis demo lookup web-headless.default.svc.cluster.local",
		Args:    cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return demo.Lookup(c.Context(), args[0], timeout, c.OutOrStdout())
		},
	}
	c.Flags().DurationVar(&timeout, "timeout", 5*time.Second, "give up after this long")
	return c
}

func newDemoServerCmd(o *ctl.Options, use, short string, defPort int, serve func(ctx context.Context, port int, log *slog.Logger) error) *cobra.Command {
	var port int
	c := &cobra.Command{
		Use:     use + " [--port P]",
		Short:   short,
		Example: "  trellis demo " + use + " --port 8080",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if port < 1 || port > 65535 {
				return ctl.Usagef("invalid --port %d: use 1-65535", port)
			}
			ctx, stop := signal.NotifyContext(c.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			log := o.Logger
			if log == nil {
				log = slog.New(slog.DiscardHandler)
			}
			return serve(ctx, port, log.With("component", "demo"))
		},
	}
	c.Flags().IntVar(&port, "port", defPort, "port to listen on")
	return c
}
