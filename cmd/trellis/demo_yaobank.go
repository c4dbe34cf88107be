package main

import (
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/trellisnet/trellis/internal/ctl"
	"github.com/trellisnet/trellis/internal/demo"
)

func newDemoYAOBankCmd(o *ctl.Options) *cobra.Command {
	var port int
	var summary, database string
	c := &cobra.Command{
		Use:   "yaobank customer|summary|database [--port P] [--summary URL] [--database URL]",
		Short: "Run a tier of YAOBank, the CalicoCon sample bank (customer -> summary -> database)",
		Long: "customer serves a web page with the account's name and balance, fetched from summary's\n" +
			"GET /account; summary fetches it from database's GET /account; database serves a fixed\n" +
			"account. Upstreams are reached by service name through the cluster DNS; errors show on\n" +
			"the page with status 502. Every tier answers GET /healthz.",
		Example: "  trellis demo yaobank database --port 2379\n" +
			"  trellis demo yaobank summary --port 80 --database http://database:2379\n" +
			"  trellis demo yaobank customer --port 80 --summary http://summary",
		ValidArgs: []string{demo.RoleCustomer, demo.RoleSummary, demo.RoleDatabase},
		Args:      cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			role := args[0]
			if role != demo.RoleCustomer && role != demo.RoleSummary && role != demo.RoleDatabase {
				return ctl.Usagef("unknown role %q: use customer, summary or database", role)
			}
			if port < 1 || port > 65535 {
				return ctl.Usagef("invalid --port %d: use 1-65535", port)
			}
			upstream := map[string]string{demo.RoleCustomer: summary, demo.RoleSummary: database}[role]
			ctx, stop := signal.NotifyContext(c.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			log := o.Logger
			if log == nil {
				log = slog.New(slog.DiscardHandler)
			}
			return demo.ServeYAOBank(ctx, role, port, upstream, log.With("component", "demo"))
		},
	}
	c.Flags().IntVar(&port, "port", 80, "port to listen on")
	c.Flags().StringVar(&summary, "summary", demo.DefaultSummaryURL, "customer: the summary tier's URL")
	c.Flags().StringVar(&database, "database", demo.DefaultDatabaseURL, "summary: the database tier's URL")
	return c
}
