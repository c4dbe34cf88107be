package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/trellisnet/trellis/internal/connectivity"
	"github.com/trellisnet/trellis/internal/ctl"
	"github.com/trellisnet/trellis/internal/flow"
	"github.com/trellisnet/trellis/internal/lab"
	"github.com/trellisnet/trellis/internal/store"
)

// newLabCmd returns `trellis lab`: up, down, status, exec, probe, matrix and the hidden
// controller the lab runs.
func newLabCmd(o *ctl.Options) *cobra.Command {
	c := &cobra.Command{
		Use:   "lab",
		Short: "Run a local multi-node cluster in network namespaces and probe it with real packets",
		Args:  cobra.NoArgs,
	}
	c.AddCommand(newLabUpCmd(o), newLabDownCmd(), newLabStatusCmd(), newLabControllerCmd(o), newLabSuperviseCmd(o),
		newLabExecCmd(), newLabProbeCmd(), newLabMatrixCmd(), newLabExternalCmd(), newLabNodeCmd(), newLabFlowsCmd(), newLabUICmd())
	c.AddCommand(newLabShimCmd(), newLabKubectlCmd(), newLabNodeRuntimeCmd(), newLabForwardCmd(o))
	return c
}

func labNameFlag(c *cobra.Command, name *string) {
	c.Flags().StringVar(name, "name", "", "lab name (default: the lab started last, else \""+lab.DefaultName+"\")")
}

func newLabUpCmd(o *ctl.Options) *cobra.Command {
	cfg := lab.Config{}
	var name string
	var withYAOBank bool
	c := &cobra.Command{
		Use:   "up [--nodes 3] [--routing bgp|vxlan] [--name NAME]",
		Short: "Build the lab: fabric, nodes, datastore, agents and the pod controller",
		Long: "Build an isolated cluster on this machine: a fabric bridge and one network namespace\n" +
			"per node, the embedded datastore on a unix socket, one node agent per node and the\n" +
			"controller that runs Pods through the CNI plugin. Returns when every agent is ready.\n" +
			"Nothing is connected to the machine's own network.",
		Example: "  sudo trellis lab up --nodes 2\n  sudo trellis lab up --name blue --routing vxlan",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			cfg.Name = name
			if cfg.Name == "" {
				cfg.Name = lab.DefaultName
			}
			if err := lab.ValidateName(cfg.Name); err != nil {
				return ctl.UsageError{Err: err}
			}
			if cfg.Routing != lab.RoutingBGP && cfg.Routing != lab.RoutingVXLAN {
				return ctl.Usagef("invalid --routing %q: use bgp or vxlan", cfg.Routing)
			}
			if cfg.Nodes < 1 || cfg.Nodes > 200 {
				return ctl.Usagef("invalid --nodes %d: use 1-200", cfg.Nodes)
			}
			if cfg.IPv6 && cfg.Routing != lab.RoutingBGP {
				return ctl.Usagef("--ipv6 needs --routing bgp (the VXLAN overlay is IPv4 only)")
			}
			bin, err := os.Executable()
			if err != nil {
				return fmt.Errorf("lab up: find the trellis binary: %w", err)
			}
			cfg.Binary = bin
			for i, a := range cfg.ImageArchives {
				if cfg.ImageArchives[i], err = filepath.Abs(a); err != nil {
					return fmt.Errorf("lab up: image archive %s: %w", a, err)
				}
			}
			if o.Logger != nil && o.Logger.Enabled(c.Context(), slog.LevelDebug) {
				cfg.LogLevel = "debug"
			}
			if err := lab.Up(c.Context(), cfg, c.OutOrStdout()); err != nil || !withYAOBank {
				return err
			}
			return lab.DeployYAOBank(c.Context(), cfg.Name, c.OutOrStdout(), cfg.Timeout)
		},
	}
	c.Flags().BoolVar(&withYAOBank, "with-yaobank", false, "also deploy YAOBank (examples/yaobank.yaml) and wait for its pods")
	c.Flags().IntVar(&cfg.Nodes, "nodes", 3, "number of nodes")
	c.Flags().StringVar(&cfg.Routing, "routing", lab.RoutingBGP, "routing between nodes: bgp or vxlan")
	c.Flags().BoolVar(&cfg.IPv6, "ipv6", false, "dual-stack: IPv6 underlay, an IPv6 pool and BGP over IPv6 (bgp routing only)")
	c.Flags().StringVar(&name, "name", lab.DefaultName, "lab name (a-z, 0-9)")
	c.Flags().DurationVar(&cfg.Timeout, "timeout", 60*time.Second, "how long to wait for the datastore and every agent (at least 5m with --kubernetes)")
	c.Flags().BoolVar(&cfg.Kubernetes, "kubernetes", false, "a real Kubernetes cluster: kube-apiserver, controller manager and scheduler, containerd and a kubelet per node, Trellis installed from its manifests")
	c.Flags().StringVar(&cfg.ServiceCIDR, "service-cidr", lab.DefaultServiceCIDR, "with --kubernetes: the service cluster IP range")
	c.Flags().StringArrayVar(&cfg.ImageArchives, "image-archive", nil, "with --kubernetes: a docker-archive or OCI tarball to import into every node's containerd, also into nodes added later (repeatable)")
	return c
}

func newLabDownCmd() *cobra.Command {
	var name string
	c := &cobra.Command{
		Use:     "down [--name NAME]",
		Short:   "Remove the lab: its processes, namespaces and state (idempotent)",
		Example: "  sudo trellis lab down\n  sudo trellis lab down --name blue",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			n := lab.ResolveName(name)
			if err := lab.ValidateName(n); err != nil {
				return ctl.UsageError{Err: err}
			}
			return lab.Down(n, c.OutOrStdout())
		},
	}
	labNameFlag(c, &name)
	return c
}

func newLabStatusCmd() *cobra.Command {
	var name, output string
	c := &cobra.Command{
		Use:     "status [--name NAME] [-o text|json]",
		Short:   "Show the lab's nodes, agents and pods",
		Example: "  trellis lab status\n  trellis lab status --name blue -o json",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if output != "text" && output != "json" {
				return ctl.Usagef("invalid --output %q: use text or json", output)
			}
			n := lab.ResolveName(name)
			if err := lab.ValidateName(n); err != nil {
				return ctl.UsageError{Err: err}
			}
			r, err := lab.Status(c.Context(), n)
			if err != nil {
				return err
			}
			if output == "json" {
				enc := json.NewEncoder(c.OutOrStdout())
				enc.SetIndent("", "  ")
				if err := enc.Encode(r); err != nil {
					return err
				}
			} else {
				lab.WriteStatus(c.OutOrStdout(), r)
			}
			if !r.Healthy() {
				return fmt.Errorf("lab %s is not healthy", n)
			}
			return nil
		},
	}
	labNameFlag(c, &name)
	c.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return c
}

func newLabControllerCmd(o *ctl.Options) *cobra.Command {
	var name string
	c := &cobra.Command{
		Use:    "controller --name NAME",
		Short:  "Run the lab's pod controller (started by lab up)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			ctx, stop, log, err := labDaemon(c, o, name, "lab-controller")
			if err != nil {
				return err
			}
			defer stop()
			bin, err := os.Executable()
			if err != nil {
				return fmt.Errorf("lab controller: find the trellis binary: %w", err)
			}
			st, err := lab.OpenStore(name)
			if err != nil {
				return err
			}
			defer st.Close()
			return lab.NewController(name, bin, st, log).Run(ctx)
		},
	}
	c.Flags().StringVar(&name, "name", lab.DefaultName, "lab name")
	return c
}

func newLabExecCmd() *cobra.Command {
	var name string
	c := &cobra.Command{
		Use:     "exec NS/POD -- CMD [ARGS...]",
		Short:   "Run a command inside a pod's network namespace",
		Example: "  sudo trellis lab exec default/web -- curl -s http://10.244.0.2/\n  sudo trellis lab exec default/web -- ip addr",
		Args: func(c *cobra.Command, args []string) error {
			if len(args) < 2 {
				return ctl.Usagef("want NS/POD -- CMD [ARGS...]")
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			return runIn(c, args, "NS/POD", func(argv []string, bin string) (int, error) {
				return lab.Exec(c.Context(), lab.ResolveName(name), args[0], argv, c.InOrStdin(), c.OutOrStdout(), c.ErrOrStderr(), bin)
			})
		},
	}
	c.Flags().SetInterspersed(false)
	labNameFlag(c, &name)
	return c
}

func newLabProbeCmd() *cobra.Command {
	var name, from, to, port, output, family string
	var timeout time.Duration
	c := &cobra.Command{
		Use:     "probe --from NS/POD --to NS/POD|IP --port tcp/80|udp/53 [--family 4|6] [-o json]",
		Short:   "Connect from inside a pod to a pod or address over real packets",
		Example: "  sudo trellis lab probe --from default/a --to default/b --port tcp/80 -o json",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if from == "" || to == "" || port == "" {
				return ctl.Usagef("--from, --to and --port are required")
			}
			if output != "text" && output != "json" {
				return ctl.Usagef("invalid --output %q: use text or json", output)
			}
			p, err := lab.ParsePort(port)
			if err != nil {
				return ctl.UsageError{Err: err}
			}
			if _, _, err := lab.PodRef(from); err != nil {
				return ctl.UsageError{Err: err}
			}
			n := lab.ResolveName(name)
			fam := 4
			if family != "" {
				fams, err := connectivity.ParseFamilies(family)
				if err != nil || len(fams) != 1 {
					return ctl.Usagef("invalid --family %q: want 4 or 6", family)
				}
				fam = fams[0]
			}
			addr, err := netip.ParseAddr(to)
			if err == nil {
				addr = addr.Unmap()
				if family != "" && connectivity.FamilyOf(addr) != fam {
					return ctl.Usagef("--to %s is not an IPv%d address", addr, fam)
				}
			} else {
				if _, _, rerr := lab.PodRef(to); rerr != nil {
					return ctl.Usagef("invalid --to %q: want NAMESPACE/POD or an IP address", to)
				}
				addrs, err := lab.PodAddrs(c.Context(), n)
				if err != nil {
					return err
				}
				all, ok := addrs[to]
				if !ok {
					return fmt.Errorf("probe: pod %s has no address in lab %s (not running?)", to, n)
				}
				if addr, ok = connectivity.AddrOfFamily(all, fam); !ok {
					return fmt.Errorf("probe: pod %s has no IPv%d address in lab %s", to, fam, n)
				}
			}
			r := lab.Probe(c.Context(), n, from, to, addr, p, timeout)
			if output == "json" {
				enc := json.NewEncoder(c.OutOrStdout())
				if err := enc.Encode(r); err != nil {
					return err
				}
			} else if r.Connected {
				fmt.Fprintf(c.OutOrStdout(), "%s -> %s (%s) %s: connected\n", r.From, r.To, r.Address, r.Port)
			} else {
				fmt.Fprintf(c.OutOrStdout(), "%s -> %s (%s) %s: not connected: %s\n", r.From, r.To, r.Address, r.Port, r.Error)
			}
			if !r.Connected {
				return fmt.Errorf("probe %s -> %s %s: not connected", r.From, r.To, r.Port)
			}
			return nil
		},
	}
	labNameFlag(c, &name)
	c.Flags().StringVar(&from, "from", "", "source pod NAMESPACE/POD")
	c.Flags().StringVar(&to, "to", "", "destination NAMESPACE/POD or IP address")
	c.Flags().StringVar(&port, "port", "", "tcp/PORT or udp/PORT (udp expects an echo)")
	c.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	c.Flags().StringVar(&family, "family", "", "address family of a pod target: 4 or 6 (default 4; an IP target's own family)")
	c.Flags().DurationVar(&timeout, "timeout", time.Second, "how long to wait for the connection (or the UDP echo)")
	return c
}

func newLabMatrixCmd() *cobra.Command {
	var name, output string
	var ports []string
	var compare bool
	var o lab.MatrixOptions
	c := &cobra.Command{
		Use:   "matrix [-n NS]... [--ports tcp/80,udp/53] [--family 4|6|all] [-o table|json] [--compare]",
		Short: "Probe every ordered pair of pods over real packets; --compare checks the calculation",
		Long: "Probe every ordered pair of running pods (in the namespaces given with -n, else all\n" +
			"but kube-system, where the lab runs its DNS) on every port, from inside the source pod.\n" +
			"The JSON output has the shape of\n" +
			"`trellis policy matrix`. With --compare the calculation's matrix for the same datastore\n" +
			"state is computed too and every disagreement is printed (exit code 1 if any). A pod\n" +
			"connecting to itself never leaves its namespace, so those pairs are not compared.\n" +
			"--family 4|6|all picks the address family (default: all when every pod has an IPv4\n" +
			"and an IPv6 address, else 4); each JSON result then carries \"family\": 4 or 6 and is\n" +
			"compared with the calculation for that family's addresses.",
		Example: "  sudo trellis lab matrix --ports tcp/80,udp/53 --compare\n  sudo trellis lab matrix --family 6 -o json",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if output != "table" && output != "json" {
				return ctl.Usagef("invalid output format %q: want table or json", output)
			}
			o.Ports = nil
			for _, p := range ports {
				lp, err := lab.ParsePort(p)
				if err != nil {
					return ctl.UsageError{Err: err}
				}
				o.Ports = append(o.Ports, lp)
			}
			if o.Family != "" {
				if _, err := connectivity.ParseFamilies(o.Family); err != nil {
					return ctl.UsageError{Err: err}
				}
			}
			n := lab.ResolveName(name)
			if tty := ctl.Terminal(c.ErrOrStderr()); tty != nil {
				o.Progress = func(done, total int) { fmt.Fprintf(tty, "\rprobed %d/%d", done, total) }
				defer fmt.Fprint(tty, "\r\033[K")
			}
			m, err := lab.RunMatrix(c.Context(), n, o)
			if err != nil {
				return err
			}
			if output == "json" {
				err = connectivity.WriteJSON(c.OutOrStdout(), m.Rows)
			} else {
				err = m.WriteTable(c.OutOrStdout())
			}
			if err != nil || !compare {
				return err
			}
			w := c.OutOrStdout()
			if output == "json" {
				w = c.ErrOrStderr()
			}
			diffs, err := lab.CompareMatrix(c.Context(), n, m.Rows)
			if err != nil {
				return err
			}
			return reportDisagreements(w, diffs)
		},
	}
	labNameFlag(c, &name)
	c.Flags().StringSliceVarP(&o.Namespaces, "namespace", "n", nil, "only pods of these namespaces (repeatable; default: all but kube-system)")
	c.Flags().StringSliceVar(&ports, "ports", []string{"tcp/80"}, "comma-separated tcp/PORT, udp/PORT list")
	c.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json")
	c.Flags().BoolVar(&compare, "compare", false, "compare with the calculation's matrix and print every disagreement")
	c.Flags().StringVar(&o.Family, "family", "", "address family: 4, 6 or all (default: all when every pod has both, else 4)")
	c.Flags().DurationVar(&o.Timeout, "timeout", time.Second, "how long a probe waits before it counts as denied (one without an answer in 200ms is tried again with this)")
	c.Flags().IntVar(&o.Concurrency, "concurrency", 1024, "probes in flight at once")
	return c
}

// reportDisagreements prints the comparison's outcome; disagreements are an error.
func reportDisagreements(w io.Writer, diffs []string) error {
	if len(diffs) == 0 {
		fmt.Fprintln(w, "compare: no disagreement between packets and calculation")
		return nil
	}
	fmt.Fprintf(w, "compare: %d disagreements:\n", len(diffs))
	for _, d := range diffs {
		fmt.Fprintln(w, "  "+d)
	}
	return errors.New("compare: the packets disagree with the calculation")
}

func newLabExternalCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "external",
		Short: "Hosts outside the cluster on the lab's fabric, optionally running BIRD",
		Args:  cobra.NoArgs,
	}
	c.AddCommand(newLabExternalAddCmd(), newLabExternalRemoveCmd(), newLabExternalListCmd(),
		newLabExternalBirdcCmd(), newLabExternalExecCmd())
	return c
}

func newLabExternalAddCmd() *cobra.Command {
	var name string
	var spec lab.RouterSpec
	var bird bool
	add := &cobra.Command{
		Use:   "add HOST [--bird --asn N [--peer NODE]... [--announce CIDR]... [--import CIDR]...]",
		Short: "Attach a host (namespace trl-LAB-HOST) to the fabric; with --bird run BIRD in it",
		Long: "Attach a host outside the cluster to the lab's fabric at the next free address. It does\n" +
			"not forward and has no default route. With --bird, Debian's bird2 runs in it, peering\n" +
			"with every node (or the --peer nodes), installing what it learns with equal-cost paths\n" +
			"merged, and announcing the --announce prefixes. `lab down` removes it.",
		Example: "  sudo trellis lab external add client\n  sudo trellis lab external add tor --bird --asn 65001 --announce 203.0.113.0/24",
		Args:    cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			n := lab.ResolveName(name)
			if err := lab.ValidateHost(args[0]); err != nil {
				return ctl.UsageError{Err: err}
			}
			var e lab.External
			var err error
			if bird {
				rc, cerr := spec.Config()
				if cerr != nil {
					return ctl.UsageError{Err: cerr}
				}
				e, err = lab.AddRouter(c.Context(), n, args[0], rc)
			} else {
				e, err = lab.AddExternal(c.Context(), n, args[0])
			}
			if err != nil {
				return err
			}
			fmt.Fprintln(c.OutOrStdout(), e.Summary())
			return nil
		},
	}
	labNameFlag(add, &name)
	add.Flags().BoolVar(&bird, "bird", false, "run BIRD (bird2) in the host")
	add.Flags().Uint32Var(&spec.ASN, "asn", 0, "BIRD's AS number")
	add.Flags().Uint32Var(&spec.NodeASN, "node-asn", 0, "the nodes' AS number (default 64512)")
	add.Flags().StringSliceVar(&spec.Peers, "peer", nil, "nodes to peer with (default: every node)")
	add.Flags().StringSliceVar(&spec.Announce, "announce", nil, "prefixes BIRD announces")
	add.Flags().StringSliceVar(&spec.Import, "import", nil, "accept only these prefixes (and more specifics) from the nodes")
	return add
}

func newLabExternalRemoveCmd() *cobra.Command {
	var rname string
	remove := &cobra.Command{
		Use:   "remove HOST",
		Short: "Stop the host's BIRD and delete its namespace",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return lab.RemoveExternal(c.Context(), lab.ResolveName(rname), args[0])
		},
	}
	labNameFlag(remove, &rname)
	return remove
}

func newLabExternalListCmd() *cobra.Command {
	var lname string
	list := &cobra.Command{
		Use:   "list",
		Short: "List the external hosts",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			exts, err := lab.Externals(lab.ResolveName(lname))
			if err != nil {
				return err
			}
			return lab.WriteExternals(c.OutOrStdout(), exts)
		},
	}
	labNameFlag(list, &lname)
	return list
}

func newLabExternalBirdcCmd() *cobra.Command {
	var bname string
	birdc := &cobra.Command{
		Use:     "birdc HOST -- ARGS...",
		Short:   "Run birdc against the host's BIRD",
		Example: "  sudo trellis lab external birdc tor -- show route",
		Args:    cobra.MinimumNArgs(2),
		RunE: func(c *cobra.Command, args []string) error {
			out, err := lab.RouterCommand(c.Context(), lab.ResolveName(bname), args[0], args[1:]...)
			fmt.Fprint(c.OutOrStdout(), out)
			return err
		},
	}
	labNameFlag(birdc, &bname)
	return birdc
}

func newLabExternalExecCmd() *cobra.Command {
	var ename string
	execCmd := &cobra.Command{
		Use:     "exec HOST -- CMD [ARGS...]",
		Short:   "Run a command inside an external host's namespace",
		Example: "  sudo trellis lab external exec client -- curl -s http://10.99.0.11:30080/",
		Args:    cobra.MinimumNArgs(2),
		RunE: func(c *cobra.Command, args []string) error {
			return runIn(c, args, "HOST", func(argv []string, bin string) (int, error) {
				return lab.ExternalExec(c.Context(), lab.ResolveName(ename), args[0], argv, c.InOrStdin(), c.OutOrStdout(), c.ErrOrStderr(), bin)
			})
		},
	}
	execCmd.Flags().SetInterspersed(false)
	labNameFlag(execCmd, &ename)
	return execCmd
}

func newLabNodeCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "node",
		Short: "Add nodes to or remove nodes from a running lab",
		Args:  cobra.NoArgs,
	}
	var aname string
	add := &cobra.Command{
		Use:     "add [NODE]",
		Short:   "Add a node (namespace, underlay address, Node resources, agent) to the running lab",
		Example: "  sudo trellis lab node add\n  sudo trellis lab node add edge1",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			node := ""
			if len(args) == 1 {
				node = args[0]
				if err := lab.ValidateHost(node); err != nil {
					return ctl.UsageError{Err: err}
				}
			}
			_, err := lab.AddNode(c.Context(), lab.ResolveName(aname), node, c.OutOrStdout())
			return err
		},
	}
	labNameFlag(add, &aname)
	var rname string
	remove := &cobra.Command{
		Use:   "remove NODE",
		Short: "Remove a node: its pods, Node resources, IPAM affinities, agent and namespace",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return lab.RemoveNode(c.Context(), lab.ResolveName(rname), args[0], c.OutOrStdout())
		},
	}
	labNameFlag(remove, &rname)
	c.AddCommand(add, remove)
	return c
}

// runIn runs the command after "TARGET --" in args through exec (lab exec, lab external
// exec) and turns its exit code into the process's.
func runIn(c *cobra.Command, args []string, target string, exec func(argv []string, bin string) (int, error)) error {
	argv := args[1:]
	if argv[0] == "--" {
		argv = argv[1:]
	}
	if len(argv) == 0 {
		return ctl.Usagef("want %s -- CMD [ARGS...]", target)
	}
	bin, _ := os.Executable()
	code, err := exec(argv, bin)
	if err != nil {
		return err
	}
	if code != 0 {
		return ctl.ExitCodeError{Code: code}
	}
	return nil
}

func newLabSuperviseCmd(o *ctl.Options) *cobra.Command {
	var name string
	c := &cobra.Command{
		Use:    "supervise --name NAME",
		Short:  "Restart the lab's datastore and controller when they exit (started by lab up)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			ctx, stop, log, err := labDaemon(c, o, name, "lab-supervisor")
			if err != nil {
				return err
			}
			defer stop()
			return lab.Supervise(ctx, name, log)
		},
	}
	c.Flags().StringVar(&name, "name", lab.DefaultName, "lab name")
	return c
}

// labDaemon starts one of the lab's own long-running processes: it checks the lab name and
// returns the context SIGINT or SIGTERM ends (stop releases it) and the logger tagged with
// component.
func labDaemon(c *cobra.Command, o *ctl.Options, name, component string) (context.Context, context.CancelFunc, *slog.Logger, error) {
	if err := lab.ValidateName(name); err != nil {
		return nil, nil, nil, ctl.UsageError{Err: err}
	}
	ctx, stop := signal.NotifyContext(c.Context(), os.Interrupt, syscall.SIGTERM)
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return ctx, stop, log.With("component", component), nil
}

// newLabKubectlCmd returns `trellis lab kubectl -- ARGS`: kubectl against a
// Kubernetes-mode lab with its admin credentials.
func newLabKubectlCmd() *cobra.Command {
	var name string
	c := &cobra.Command{
		Use:     "kubectl [--name NAME] -- ARGS...",
		Short:   "Run kubectl against a Kubernetes-mode lab (lab up --kubernetes)",
		Example: "  sudo trellis lab kubectl -- get nodes -o wide\n  sudo trellis lab kubectl -- apply -f examples/yaobank.yaml",
		RunE: func(c *cobra.Command, args []string) error {
			n := lab.ResolveName(name)
			if err := lab.ValidateName(n); err != nil {
				return ctl.UsageError{Err: err}
			}
			err := lab.Kubectl(c.Context(), n, args, c.InOrStdin(), c.OutOrStdout(), c.ErrOrStderr())
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				return ctl.ExitCodeError{Code: ee.ExitCode()} // kubectl has said why
			}
			return err
		},
	}
	labNameFlag(c, &name)
	return c
}

// newLabNodeRuntimeCmd returns the hidden `trellis lab node-runtime`: a Kubernetes-mode
// node's containerd and kubelet, which lab up starts in the node's namespaces.
func newLabNodeRuntimeCmd() *cobra.Command {
	var name, node, containerd, kubelet string
	c := &cobra.Command{
		Use:    "node-runtime --name NAME --node NODE",
		Short:  "Run a lab node's containerd and kubelet (started by lab up --kubernetes)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return lab.NodeRuntime(name, node, containerd, kubelet)
		},
	}
	c.Flags().StringVar(&name, "name", "", "lab name")
	c.Flags().StringVar(&node, "node", "", "node name")
	c.Flags().StringVar(&containerd, "containerd", "containerd", "containerd binary")
	c.Flags().StringVar(&kubelet, "kubelet", "kubelet", "kubelet binary")
	return c
}

// newLabForwardCmd returns the hidden `trellis lab forward`: the machine's loopback port
// relaying to a Kubernetes-mode lab's API server.
func newLabForwardCmd(o *ctl.Options) *cobra.Command {
	var name, listen string
	c := &cobra.Command{
		Use:    "forward --name NAME --listen 127.0.0.1:PORT",
		Short:  "Relay a loopback port to the lab's API server (started by lab up --kubernetes)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(c.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			log := o.Logger
			if log == nil {
				log = slog.New(slog.DiscardHandler)
			}
			return lab.Forward(ctx, name, listen, log)
		},
	}
	c.Flags().StringVar(&name, "name", "", "lab name")
	c.Flags().StringVar(&listen, "listen", "", "loopback address to listen on")
	return c
}

func newLabFlowsCmd() *cobra.Command {
	var name string
	var f ctl.FlowFlags
	c := &cobra.Command{
		Use:   "flows [--name NAME] [--follow] [-n NS] [--pod P] [--action allow|deny] [--port P] [--since DUR] [-o table|json]",
		Short: "Show the flows every node agent of the lab saw, with the policy rule that decided each",
		Long: "Each node's agent logs the verdict of every new connection (NFLOG) with the rule that decided\n" +
			"it and aggregates flows every " + lab.FlowInterval + "; this asks every agent over its status socket and\n" +
			"merges the answers (--follow: prints flows as the agents aggregate them).",
		Example: "  trellis lab flows --action deny\n  trellis lab flows -n yaobank --follow",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			_, sources, err := labFlowSources(name)
			if err != nil {
				return err
			}
			return ctl.RunFlows(c.Context(), c.OutOrStdout(), &f, sources)
		},
	}
	labNameFlag(c, &name)
	f.Add(c)
	return c
}

func newLabUICmd() *cobra.Command {
	var name, listen string
	c := &cobra.Command{
		Use:     "ui [--name NAME] [--listen ADDR]",
		Short:   "Serve the flow UI of a lab: every node agent's flows, live, and the trace of any flow",
		Example: "  trellis lab ui\n  trellis lab ui --name blue --listen 127.0.0.1:7071",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			n, sources, err := labFlowSources(name)
			if err != nil {
				return err
			}
			open := func(context.Context) (store.Store, error) { return lab.OpenStore(n) }
			ctx, stop := signal.NotifyContext(c.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return ctl.ServeFlowUI(ctx, c.OutOrStdout(), listen, 100000, sources, ctl.FlowTracer{Open: open})
		},
	}
	labNameFlag(c, &name)
	c.Flags().StringVar(&listen, "listen", "127.0.0.1:7070", "TCP address of the UI")
	return c
}

// labFlowSources resolves a lab's name and returns the flow API of each of its node agents
// (their status sockets).
func labFlowSources(name string) (string, map[string]*flow.Client, error) {
	n := lab.ResolveName(name)
	if err := lab.ValidateName(n); err != nil {
		return "", nil, ctl.UsageError{Err: err}
	}
	st, err := lab.LoadState(n)
	if err != nil {
		return "", nil, err
	}
	sources := map[string]*flow.Client{}
	for _, node := range st.Nodes {
		sources[node.Name] = flowClient(node.Socket)
	}
	return n, sources, nil
}
