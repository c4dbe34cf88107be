package ctl

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/spf13/cobra"

	"github.com/trellisnet/trellis/internal/connectivity"
	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/policy"
)

// NewPolicyCmd returns `trellis policy` with its `trace` and `matrix` subcommands.
func NewPolicyCmd(o *Options) *cobra.Command {
	c := &cobra.Command{
		Use:   "policy",
		Short: "Explain policy decisions: trace one connection, or the matrix of all pod pairs",
		Args:  cobra.NoArgs,
	}
	c.AddCommand(newPolicyTraceCmd(o), newPolicyMatrixCmd(o))
	return c
}

type policySource struct {
	files []string
}

func (s *policySource) addFlags(c *cobra.Command) {
	c.Flags().StringArrayVarP(&s.files, "filename", "f", nil,
		"manifest file, directory or - for stdin (repeatable); without -f the datastore is read")
}

func (s *policySource) load(ctx context.Context, o *Options, stdin io.Reader, stderr io.Writer) (*connectivity.Scenario, error) {
	var objs []model.Object
	var err error
	if len(s.files) > 0 {
		objs, err = loadPolicyManifests(s.files, stdin, stderr)
	} else {
		objs, err = listPolicyObjects(ctx, o)
	}
	if err != nil {
		return nil, err
	}
	return connectivity.Build(objs, len(s.files) > 0)
}

// loadPolicyManifests loads manifests as apply does, but leniently: when the documents decode
// and only validation fails (a Pod without containers, say), it warns on stderr and goes on,
// since a trace changes nothing and the calculation fails closed on bad policy input.
func loadPolicyManifests(paths []string, stdin io.Reader, stderr io.Writer) ([]model.Object, error) {
	var in []byte
	if slices.Contains(paths, "-") && stdin != nil {
		b, err := io.ReadAll(stdin)
		if err != nil {
			return nil, fmt.Errorf("read standard input: %w", err)
		}
		in = b
	}
	docs, loadErr := LoadManifests(paths, bytes.NewReader(in), false)
	if loadErr == nil {
		objs := make([]model.Object, len(docs))
		for i, d := range docs {
			objs[i] = d.Object
		}
		return objs, nil
	}
	var problems model.Problems
	if !errors.As(loadErr, &problems) {
		return nil, loadErr
	}
	files, fp := expandPaths(paths, false)
	if len(fp) > 0 {
		return nil, loadErr
	}
	var objs []model.Object
	for _, f := range files {
		data := in
		if f != "-" {
			var err error
			if data, err = os.ReadFile(f); err != nil {
				return nil, fmt.Errorf("read %s: %w", f, err)
			}
		}
		ds, err := model.Decode(data, f)
		if err != nil {
			return nil, loadErr // a decoding problem: report everything LoadManifests found
		}
		for _, d := range ds {
			prepare(d.Object, "")
			objs = append(objs, d.Object)
		}
	}
	for _, p := range problems {
		fmt.Fprintf(stderr, "warning: %s\n", p)
	}
	return objs, nil
}

func listPolicyObjects(ctx context.Context, o *Options) ([]model.Object, error) {
	if o.OpenStore == nil {
		return nil, fmt.Errorf("read policy inputs: no datastore configured")
	}
	st, err := o.OpenStore(ctx)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	return connectivity.Objects(ctx, st)
}

// usage turns the connectivity package's argument errors into usage errors (exit 2).
func usage(err error) error {
	if connectivity.IsUsage(err) {
		return UsageError{Err: err}
	}
	return err
}

func newPolicyTraceCmd(o *Options) *cobra.Command {
	var src policySource
	var from, to, port, output string
	c := &cobra.Command{
		Use:   "trace --from NS/POD|IP --to NS/POD|IP --port PROTO/PORT [-f FILE|DIR]...",
		Short: "Explain whether a connection is allowed, naming the tier, policy and rule that decided",
		Long: "Trace the first packet of a connection through the source's egress policy and the\n" +
			"destination's ingress policy as Calico would evaluate them. PROTO is tcp, udp, sctp\n" +
			"or icmp. With -f the manifests are used (offline); otherwise the datastore.",
		Example: "  trellis policy trace -f app.yaml --from prod/web --to prod/db --port tcp/5432 -o json",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if from == "" || to == "" || port == "" {
				return Usagef("--from, --to and --port are required")
			}
			if output != "text" && output != "json" {
				return Usagef("invalid output format %q: want text or json", output)
			}
			spec, err := connectivity.ParsePort(port)
			if err != nil {
				return usage(err)
			}
			sc, err := src.load(c.Context(), o, c.InOrStdin(), c.ErrOrStderr())
			if err != nil {
				return err
			}
			res, err := sc.Trace(from, to, spec)
			if err != nil {
				return usage(err)
			}
			return writeTrace(c.OutOrStdout(), from, to, spec, res, output)
		},
	}
	src.addFlags(c)
	c.Flags().StringVar(&from, "from", "", "source: NAMESPACE/POD or IP address")
	c.Flags().StringVar(&to, "to", "", "destination: NAMESPACE/POD or IP address")
	c.Flags().StringVar(&port, "port", "", "PROTO/PORT: tcp/80, udp/53, sctp/9000 or icmp")
	c.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return c
}

func writeTrace(w io.Writer, from, to string, spec connectivity.Port, r policy.Result, output string) error {
	if output == "json" {
		out := connectivity.NewTraceReport(from, to, spec, r)
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	fmt.Fprintf(w, "%s -> %s %s\n", from, to, spec)
	_, err := io.WriteString(w, r.Explain())
	return err
}

func newPolicyMatrixCmd(o *Options) *cobra.Command {
	var src policySource
	var ports []string
	var output string
	var family int
	c := &cobra.Command{
		Use:     "matrix [-f FILE|DIR]... [--ports tcp/80,udp/53] [--family 4|6] [-o table|json]",
		Short:   "Print the verdict for every ordered pair of pods and every port",
		Example: "  trellis policy matrix -f scenario/ --ports tcp/80,udp/53 -o json",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if output != "table" && output != "json" {
				return Usagef("invalid output format %q: want table or json", output)
			}
			if family != 0 && family != 4 && family != 6 {
				return Usagef("invalid --family %d: want 4 or 6", family)
			}
			specs, err := connectivity.ParsePorts(ports)
			if err != nil {
				return usage(err)
			}
			sc, err := src.load(c.Context(), o, c.InOrStdin(), c.ErrOrStderr())
			if err != nil {
				return err
			}
			// With --family each result carries it, in the shape of `lab matrix --family`;
			// a pod without an address of the family has no verdict ("unknown").
			rows := sc.Matrix(specs, family)
			if output == "json" {
				return connectivity.WriteJSON(c.OutOrStdout(), rows)
			}
			if family != 0 {
				fmt.Fprintf(c.OutOrStdout(), "IPv%d\n", family)
			}
			return connectivity.WriteTable(c.OutOrStdout(), sc.Names, specs, rows)
		},
	}
	src.addFlags(c)
	c.Flags().IntVar(&family, "family", 0, "address family of the pods' addresses: 4 or 6 (default: each pod's IPv4 address where it has one)")
	c.Flags().StringSliceVar(&ports, "ports", []string{"tcp/80"}, "comma-separated PROTO/PORT list")
	c.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json")
	return c
}
