package main

import (
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/trellisnet/trellis/internal/agent/agentapi"
	"github.com/trellisnet/trellis/internal/ctl"
	"github.com/trellisnet/trellis/internal/flow"
)

// flowsServerEnv names the default flow API of `trellis flows`.
const flowsServerEnv = "TRELLIS_FLOWS_SERVER"

// flowClient returns a flow API client for target: a unix socket path (an agent's status
// socket), host:port or a URL.
func flowClient(target string) *flow.Client {
	base, tr := agentapi.Transport(target)
	return &flow.Client{Base: base, HTTP: &http.Client{Transport: tr}}
}

// newFlowsCmd returns `trellis flows`.
func newFlowsCmd() *cobra.Command {
	var f ctl.FlowFlags
	server := os.Getenv(flowsServerEnv)
	if server == "" {
		server = agentapi.DefaultHealthAddr
	}
	c := &cobra.Command{
		Use:   "flows [--server ADDR] [--follow] [-n NS] [--pod P] [--action allow|deny] [--port P] [--since DUR] [-o table|json]",
		Short: "Show the connections agents saw, with the verdict and the policy rule that decided each",
		Long: "Flows are aggregated every interval by source, destination, port, protocol, action, reporter and\n" +
			"policies, as Calico's flow logs are. A flow is reported by the source's node (egress policy,\n" +
			"reporter src) and the destination's (ingress, reporter dst). --server is an agent's health address,\n" +
			"its status socket, or the flow aggregator's URL. In a lab, use 'trellis lab flows'.",
		Example: "  trellis flows --action deny --since 15m\n  trellis flows --server http://trellis-flows.kube-system:7070 -n prod --follow",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return ctl.RunFlows(c.Context(), c.OutOrStdout(), &f, map[string]*flow.Client{server: flowClient(server)})
		},
	}
	c.Flags().StringVar(&server, "server", server, "flow API: an agent's health address or status socket, or the aggregator's URL [$"+flowsServerEnv+"]")
	f.Add(c)
	return c
}

func newUICmd(o *ctl.Options) *cobra.Command {
	var listen string
	var sources []string
	var size int
	c := &cobra.Command{
		Use:   "ui [--listen ADDR] [--source ADDR]...",
		Short: "Serve the flow UI: live flows, a graph of who talks to whom, and the trace of any flow",
		Long: "Flows come from every --source (an agent's health address or status socket, or another\n" +
			"aggregator), followed live, and from agents pushing to this server's " + flow.Path + "\n" +
			"(node run --flow-aggregator): without sources it is the cluster's flow aggregator. Selecting\n" +
			"a flow traces its first packet with the policy calculation over the datastore as it is now.\n" +
			"In a lab, use 'trellis lab ui'.",
		Example: "  trellis ui --listen 0.0.0.0:7070          # the aggregator: agents push to it\n" +
			"  trellis ui --source /run/trellis/node/node1/agent.sock",
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if size <= 0 {
				return ctl.Usagef("--store-size must be positive, got %d", size)
			}
			m := map[string]*flow.Client{}
			for _, s := range sources {
				m[s] = flowClient(s)
			}
			ctx, stop := signal.NotifyContext(c.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return ctl.ServeFlowUI(ctx, c.OutOrStdout(), listen, size, m, ctl.FlowTracer{Open: o.OpenStore})
		},
	}
	c.Flags().StringVar(&listen, "listen", "127.0.0.1:7070", "TCP address of the UI and the flow API")
	c.Flags().StringSliceVar(&sources, "source", nil, "follow the flows of this agent (health address or status socket) or aggregator; repeatable")
	c.Flags().IntVar(&size, "store-size", 100000, "flows kept")
	return c
}
