package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/trellisnet/trellis/internal/agent"
	"github.com/trellisnet/trellis/internal/agent/agentapi"
	"github.com/trellisnet/trellis/internal/ctl"
	"github.com/trellisnet/trellis/internal/dataplane/nft"
	"github.com/trellisnet/trellis/internal/model"
)

// newNodeCmd returns `trellis node` with `run` (the node agent) and `status`.
func newNodeCmd(o *ctl.Options) *cobra.Command {
	c := &cobra.Command{
		Use:   "node",
		Short: "Run the node agent or show its status",
		Args:  cobra.NoArgs,
	}
	c.AddCommand(newNodeRunCmd(o), newNodeStatusCmd())
	return c
}

func newNodeRunCmd(o *ctl.Options) *cobra.Command {
	var cfg agent.Config
	var asNumber, flowMarkMask string
	c := &cobra.Command{
		Use:   "run",
		Short: "Run the node agent: watch the datastore and program this node's nftables policy",
		Long: "Run the node agent until SIGINT or SIGTERM. It lists and watches the datastore,\n" +
			"calculates the policy of this node's endpoints and programs the nftables table\n" +
			"(inet " + agent.DefaultTableName + " by default), which stays in place when the agent exits.\n" +
			"Health, readiness, Prometheus metrics and status are served on --health-addr and\n" +
			"on --status-socket (used by `trellis node status`). Metrics: trellis_agent_* (syncs,\n" +
			"sync durations by type and phase, table size), trellis_rule_packets_total and\n" +
			"trellis_rule_bytes_total by tier, policy, direction and rule (nft counters),\n" +
			"trellis_loop_* for the policy and routing loops, trellis_bgp_* (sessions by state\n" +
			"and per peer, routes), trellis_datastore_up.",
		Example: "  trellis node run --node-name node1\n  trellis node run --node-name node1 --health-addr 0.0.0.0:9099 --resync-period 30s",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if cfg.NodeName == "" {
				return ctl.Usagef("--node-name is required")
			}
			if cfg.Routing != agent.RoutingAuto && cfg.Routing != agent.RoutingOff {
				return ctl.Usagef("invalid --routing %q: use auto or off", cfg.Routing)
			}
			if err := checkAddr("--metrics-addr", cfg.MetricsAddr); err != nil {
				return err
			}
			if cfg.ResyncPeriod <= 0 {
				return ctl.Usagef("--resync-period must be positive, got %s", cfg.ResyncPeriod)
			}
			if cfg.FlowInterval <= 0 {
				return ctl.Usagef("--flow-interval must be positive, got %s", cfg.FlowInterval)
			}
			if err := bgpFlags(&cfg, asNumber); err != nil {
				return err
			}
			if err := flowMarkFlag(&cfg, flowMarkMask); err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(c.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runNode(ctx, o, cfg)
		},
	}
	f := c.Flags()
	f.StringVar(&cfg.NodeName, "node-name", "", "name of this node (required)")
	f.StringVar(&cfg.HealthAddr, "health-addr", agent.DefaultHealthAddr, "TCP address of /healthz, /readyz, /metrics and /status, or \"none\" [$"+healthAddrEnv+"]")
	f.StringVar(&cfg.MetricsAddr, "metrics-addr", agentapi.Disabled, "TCP address serving /metrics only (for a scraper over the network; health and status stay on --health-addr), or \"none\" [$"+metricsAddrEnv+"]")
	f.StringVar(&cfg.StatusSocket, "status-socket", "", "unix socket serving the same endpoints, or \"none\" (default "+agentapi.DefaultSocketDir+"/NODE/agent.sock)")
	f.DurationVar(&cfg.ResyncPeriod, "resync-period", agent.DefaultResyncPeriod, "interval of full syncs that repair drift in the nftables table")
	f.DurationVar(&cfg.RateLimit, "min-sync-interval", agent.DefaultRateLimit, "minimum interval between two syncs (changes in between are coalesced)")
	f.StringVar(&cfg.TableName, "table", agent.DefaultTableName, "name of the inet nftables table the agent owns")
	f.StringVar(&cfg.WorkloadPrefix, "workload-prefix", "trl", "name prefix of workload (pod) interfaces")
	f.StringVar(&cfg.LogPrefix, "log-prefix", "", "start of the nft log prefix of Log rules (default: FelixConfiguration node.NODE, then default, logPrefix; else \"trellis\")")
	f.StringVar(&cfg.Routing, "routing", agent.RoutingAuto, "pod routing: auto (BGP when this node's Node has spec.bgp.ipv4Address, VXLAN when a pool uses it) or off")
	f.StringVar(&cfg.BGPIPv4Address, "bgp-ipv4-address", "", "this node's BGP address (192.0.2.10/24) or \""+agent.BGPAutodetect+"\", written to its Calico Node at start (default: leave the Node as it is) [$IP]")
	f.StringVar(&asNumber, "as-number", "", "this node's AS number, written with --bgp-ipv4-address (default: the cluster's) [$AS]")
	f.DurationVar(&cfg.IPAMLeakGrace, "ipam-leak-grace", 0, "make this agent the cluster's IPAM leak collector: release addresses leaked for this long (0: off; enable on one node)")
	f.Uint16Var(&cfg.FlowLogGroup, "flow-log-group", 0, "turn flow logs on: the NFLOG group (1-65535) the table logs verdicts to; flows are served on /api/v1/flows (0: off) [$TRELLIS_FLOW_LOG_GROUP]")
	f.DurationVar(&cfg.FlowInterval, "flow-interval", agent.DefaultFlowInterval, "flow aggregation interval")
	f.StringVar(&cfg.FlowLogFile, "flow-log-file", "", "also append flows to this file as JSON lines, rotated at 100 MiB, 5 kept (default: off)")
	f.StringVar(&cfg.FlowAggregator, "flow-aggregator", "", "push flows to the aggregator at this URL every interval (default: off) [$TRELLIS_FLOW_AGGREGATOR]")
	f.StringVar(&flowMarkMask, "flow-mark-mask", "", fmt.Sprintf("packet-mark bits that carry an egress allow's flow ID to the next flow-log statement (default 0x%08x; at least 4 bits, none of 0x%08x) [$TRELLIS_FLOW_MARK_MASK]",
		nft.DefaultFlowMarkMask, nft.ReservedMarks))
	return c
}

// flowMarkFlag checks --flow-mark-mask into cfg ("" keeps the default).
func flowMarkFlag(cfg *agent.Config, mask string) error {
	if mask == "" {
		return nil
	}
	v, err := strconv.ParseUint(mask, 0, 32)
	if err != nil {
		return ctl.Usagef("invalid --flow-mark-mask %q: use a 32-bit number such as 0x%08x", mask, nft.DefaultFlowMarkMask)
	}
	if err := nft.CheckFlowMarkMask(uint32(v)); err != nil {
		return ctl.Usagef("invalid --flow-mark-mask %q: %v", mask, err)
	}
	cfg.FlowMarkMask = uint32(v)
	return nil
}

// bgpFlags checks --bgp-ipv4-address and --as-number into cfg.
func bgpFlags(cfg *agent.Config, asNumber string) error {
	if a := cfg.BGPIPv4Address; a != "" && a != agent.BGPAutodetect {
		if _, err := netip.ParsePrefix(a); err != nil {
			if ip, err := netip.ParseAddr(a); err != nil || !ip.Is4() {
				return ctl.Usagef("invalid --bgp-ipv4-address %q: use an IPv4 address with prefix length (192.0.2.10/24) or %s", a, agent.BGPAutodetect)
			}
		}
	}
	if asNumber == "" {
		return nil
	}
	if cfg.BGPIPv4Address == "" {
		return ctl.Usagef("--as-number needs --bgp-ipv4-address")
	}
	as, err := model.ParseASNumber(asNumber)
	if err != nil {
		return ctl.Usagef("invalid --as-number: %v", err)
	}
	cfg.ASNumber = &as
	return nil
}

func runNode(ctx context.Context, o *ctl.Options, cfg agent.Config) error {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	version, err := nft.CheckNFT(ctx)
	if err != nil {
		return err
	}
	if o.OpenStoreWait == nil {
		return fmt.Errorf("run node agent: no datastore configured")
	}
	st, err := o.OpenStoreWait(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	dp, err := agent.KernelDataplane(ctx, "", cfg.TableName)
	if err != nil {
		return err
	}
	log.Info("nft found", "version", version)
	cfg.DatastoreEndpoint = o.Datastore
	return agent.New(cfg, st, dp, log.With("component", "agent")).Run(ctx)
}

func newNodeStatusCmd() *cobra.Command {
	var node, socket, output string
	c := &cobra.Command{
		Use:   "status",
		Short: "Show the node agent's health, last sync and what it programmed",
		Example: "  trellis node status --node-name node1\n" +
			"  trellis node status --socket /run/trellis/node/node1/agent.sock -o json",
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if output != "text" && output != "json" {
				return ctl.Usagef("invalid --output %q: use text or json", output)
			}
			target := socket
			switch {
			case target == "" && node == "":
				host, _ := os.Hostname()
				local, err := agentapi.LocalSocket(agentapi.DefaultSocketDir, host)
				if err != nil {
					return fmt.Errorf("node status: %w", err)
				}
				target = local
			case target == "":
				target = agentapi.SocketPath(node)
			}
			ctx, cancel := context.WithTimeout(c.Context(), 10*time.Second)
			defer cancel()
			s, err := agentapi.NewClient(target).Status(ctx)
			if err != nil {
				return fmt.Errorf("node status: is the agent running? %w", err)
			}
			if output == "json" {
				enc := json.NewEncoder(c.OutOrStdout())
				enc.SetIndent("", "  ")
				if err := enc.Encode(s); err != nil {
					return err
				}
			} else if err := writeNodeStatus(c.OutOrStdout(), s, time.Now()); err != nil {
				return err
			}
			if !s.Healthy {
				return fmt.Errorf("node %s: agent is not healthy (sync loop stuck)", s.Node)
			}
			return nil
		},
	}
	c.Flags().StringVar(&node, "node-name", "", "node whose agent to ask (its default socket; default: this machine's agent)")
	c.Flags().StringVar(&socket, "socket", "", "agent status socket path, or host:port of its health address")
	c.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return c
}

// writeNodeStatus prints the human-readable status.
func writeNodeStatus(w io.Writer, s agentapi.Status, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	health := "healthy"
	if !s.Healthy {
		health = "UNHEALTHY (sync loop stuck)"
	}
	ready := "ready"
	switch {
	case !s.InSync:
		ready = "not ready (not in sync with the datastore yet)"
	case s.DatastoreUnreachable != "":
		ready = "not ready (" + s.DatastoreUnreachable + "; still enforcing the last policy)"
	case !s.Ready:
		ready = "not ready (last sync failed)"
	}
	fmt.Fprintf(tw, "node:\t%s\n", s.Node)
	fmt.Fprintf(tw, "table:\tinet %s\n", s.Table)
	fmt.Fprintf(tw, "health:\t%s, %s\n", health, ready)
	if s.LastSync != nil {
		fmt.Fprintf(tw, "last sync:\t%s (%s ago), %s, took %s, %d operations\n",
			s.LastSync.UTC().Format(time.RFC3339), now.Sub(*s.LastSync).Round(time.Millisecond),
			s.LastSyncType, (time.Duration(s.LastSyncSeconds * float64(time.Second))).Round(time.Microsecond), s.LastOperations)
	} else {
		fmt.Fprintf(tw, "last sync:\tnever\n")
	}
	if s.LastError != "" {
		fmt.Fprintf(tw, "last error:\t%s\n", s.LastError)
	}
	fmt.Fprintf(tw, "syncs:\t%d (%d failed)\n", s.Syncs, s.Errors)
	fmt.Fprintf(tw, "endpoints:\t%d\n", s.Endpoints)
	fmt.Fprintf(tw, "policies:\t%d\n", s.Policies)
	fmt.Fprintf(tw, "services:\t%d (%d ports, %d endpoints)\n", s.Services, s.ServicePorts, s.ServiceEndpoints)
	fmt.Fprintf(tw, "chains:\t%d (%d rules)\n", s.Chains, s.Rules)
	fmt.Fprintf(tw, "sets:\t%d (%d elements)\n", s.Sets, s.SetElements)
	if len(s.BGPPeers) == 0 {
		fmt.Fprintf(tw, "bgp peers:\tnone\n")
	}
	for _, p := range s.BGPPeers {
		fmt.Fprintf(tw, "bgp peer:\t%s AS %d %s, up %s, prefixes %d received %d accepted %d advertised\n",
			p.Address, p.ASNumber, p.State, p.Uptime, p.Received, p.Accepted, p.Advertised)
	}
	return tw.Flush()
}
