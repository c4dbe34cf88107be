package ctl

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/policy"
	"github.com/trellisnet/trellis/internal/store"
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

// scenario is a calculated state with the pods that can be named.
type scenario struct {
	state *policy.State
	pods  map[string]*policy.EndpointInput // "ns/pod"
	names []string
}

func (s *policySource) load(ctx context.Context, o *Options, stdin io.Reader, stderr io.Writer) (*scenario, error) {
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
	return buildScenario(objs, len(s.files) > 0)
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
	var out []model.Object
	for _, k := range model.Default.Kinds() {
		probe := k.New()
		if _, ok := policy.KeyOf(probe); !ok {
			continue
		}
		res, err := st.List(ctx, k, store.ListOptions{})
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", k.Resource(), err)
		}
		out = append(out, res.Items...)
	}
	return out, nil
}

// buildScenario converts objects to inputs: a WorkloadEndpoint wins over the Pod it stands
// for; namespaces that pods use but no manifest declares are created (offline only); pods
// without an address get one from 198.18.0.0/15 (offline only) so that they can be traced.
func buildScenario(objs []model.Object, offline bool) (*scenario, error) {
	var rs []policy.Resource
	peps := map[string]*policy.EndpointInput{}
	wepNames := map[string]bool{}
	namespaces := map[string]bool{}
	var pods []*policy.EndpointInput
	for _, obj := range objs {
		if _, ok := obj.(*corev1.Pod); ok {
			continue
		}
		r, err := policy.FromObject(obj)
		if err != nil {
			return nil, err
		}
		switch r := r.(type) {
		case nil:
			continue
		case *policy.Namespace:
			namespaces[r.Name] = true
		case *policy.EndpointInput:
			if r.Kind == policy.KindWorkload {
				wepNames[r.Name] = true
				peps[r.Name] = r
			}
		}
		rs = append(rs, r)
	}
	for _, obj := range objs {
		pod, ok := obj.(*corev1.Pod)
		if !ok || wepNames[pod.Namespace+"/"+pod.Name] {
			continue
		}
		ep, err := policy.FromPod(pod)
		if err != nil {
			return nil, err
		}
		if ep != nil {
			pods = append(pods, ep)
		}
	}
	next := netip.MustParseAddr("198.18.0.1")
	for _, ep := range pods {
		if offline && len(ep.Addrs) == 0 {
			ep.Addrs = []netip.Prefix{netip.PrefixFrom(next, 32)}
			next = next.Next()
		}
		peps[ep.Name] = ep
		rs = append(rs, ep)
	}
	if offline {
		for _, ep := range peps {
			if ep.Namespace != "" && !namespaces[ep.Namespace] {
				namespaces[ep.Namespace] = true
				ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ep.Namespace}}
				rs = append(rs, policy.FromNamespace(ns))
			}
		}
	}
	names := make([]string, 0, len(peps))
	for n := range peps {
		names = append(names, n)
	}
	slices.Sort(names)
	return &scenario{state: policy.Compute(policy.Options{}, rs), pods: peps, names: names}, nil
}

// resolve turns NS/POD or an IP into candidate addresses.
func (s *scenario) resolve(ref string) ([]netip.Addr, error) {
	if a, err := netip.ParseAddr(ref); err == nil {
		return []netip.Addr{a.Unmap()}, nil
	}
	if !strings.Contains(ref, "/") {
		return nil, Usagef("invalid endpoint %q: want NAMESPACE/POD or an IP address", ref)
	}
	ep, ok := s.pods[ref]
	if !ok {
		return nil, fmt.Errorf("resolve %s: no such pod or workload endpoint", ref)
	}
	var out []netip.Addr
	for _, p := range ep.Addrs {
		out = append(out, p.Addr())
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("resolve %s: the pod has no IP address", ref)
	}
	slices.SortFunc(out, func(a, b netip.Addr) int { return a.Compare(b) })
	return out, nil
}

// pickPair chooses a source and destination of the same family, IPv4 first.
func pickPair(from, to []netip.Addr) (netip.Addr, netip.Addr, bool) {
	for _, v4 := range []bool{true, false} {
		for _, a := range from {
			for _, b := range to {
				if a.Is4() == v4 && b.Is4() == v4 {
					return a, b, true
				}
			}
		}
	}
	return netip.Addr{}, netip.Addr{}, false
}

// traceSpec is a PROTO/PORT argument.
type traceSpec struct {
	proto string
	port  uint16
}

func (t traceSpec) String() string {
	if t.proto == "icmp" {
		return "icmp"
	}
	return t.proto + "/" + strconv.Itoa(int(t.port))
}

func parsePortSpec(s string) (traceSpec, error) {
	proto, port, hasPort := strings.Cut(strings.ToLower(strings.TrimSpace(s)), "/")
	switch proto {
	case "icmp":
		return traceSpec{proto: "icmp"}, nil
	case "tcp", "udp", "sctp":
	default:
		return traceSpec{}, Usagef("invalid port %q: protocol must be tcp, udp, sctp or icmp", s)
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if !hasPort || err != nil || n == 0 {
		return traceSpec{}, Usagef("invalid port %q: want PROTO/PORT with PORT 1-65535", s)
	}
	return traceSpec{proto: proto, port: uint16(n)}, nil
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
			spec, err := parsePortSpec(port)
			if err != nil {
				return err
			}
			sc, err := src.load(c.Context(), o, c.InOrStdin(), c.ErrOrStderr())
			if err != nil {
				return err
			}
			res, err := sc.trace(from, to, spec)
			if err != nil {
				return err
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

func (s *scenario) trace(from, to string, spec traceSpec) (policy.Result, error) {
	fa, err := s.resolve(from)
	if err != nil {
		return policy.Result{}, err
	}
	ta, err := s.resolve(to)
	if err != nil {
		return policy.Result{}, err
	}
	a, b, ok := pickPair(fa, ta)
	if !ok {
		return policy.Result{}, fmt.Errorf("trace %s to %s: no address family in common", from, to)
	}
	return policy.Trace(s.state, policy.Packet{Src: a, Dst: b, Proto: spec.proto, Port: spec.port}), nil
}

type decisionJSON struct {
	Verdict   string   `json:"verdict"`
	Endpoint  string   `json:"endpoint,omitempty"`
	Reason    string   `json:"reason"`
	Tier      string   `json:"tier,omitempty"`
	Policy    string   `json:"policy,omitempty"`
	Namespace string   `json:"namespace,omitempty"`
	Kind      string   `json:"kind,omitempty"`
	Profile   string   `json:"profile,omitempty"`
	Rule      *int     `json:"rule,omitempty"`
	Logged    []string `json:"logged,omitempty"`
}

type traceJSON struct {
	Verdict string       `json:"verdict"`
	From    string       `json:"from"`
	To      string       `json:"to"`
	Port    string       `json:"port"`
	Egress  decisionJSON `json:"egress"`
	Ingress decisionJSON `json:"ingress"`
}

func toDecisionJSON(d policy.Decision) decisionJSON {
	out := decisionJSON{Verdict: string(d.Verdict), Endpoint: d.Endpoint, Reason: d.Reason, Tier: d.Tier,
		Profile: d.Profile, Logged: d.Logged}
	if d.Reason == policy.ReasonRule || d.Reason == policy.ReasonProfile {
		r := d.Rule
		out.Rule = &r
	}
	if d.Reason == policy.ReasonRule {
		out.Policy, out.Namespace, out.Kind = d.Policy.Name, d.Policy.Namespace, string(d.Policy.Kind)
	}
	if d.Reason == policy.ReasonProfile {
		out.Policy = "profile " + d.Profile
	}
	return out
}

func writeTrace(w io.Writer, from, to string, spec traceSpec, r policy.Result, output string) error {
	if output == "json" {
		out := traceJSON{Verdict: string(r.Verdict), From: from, To: to, Port: spec.String(),
			Egress: toDecisionJSON(r.Egress), Ingress: toDecisionJSON(r.Ingress)}
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
			var specs []traceSpec
			for _, p := range ports {
				s, err := parsePortSpec(p)
				if err != nil {
					return err
				}
				specs = append(specs, s)
			}
			sc, err := src.load(c.Context(), o, c.InOrStdin(), c.ErrOrStderr())
			if err != nil {
				return err
			}
			if family == 0 {
				results, err := sc.matrix(specs)
				if err != nil {
					return err
				}
				return writeMatrix(c.OutOrStdout(), sc.names, specs, results, output)
			}
			// One family: each result carries it, in the shape of `lab matrix --family`;
			// a pod without an address of the family has no verdict ("unknown").
			var results []labMatrixResult
			var plain []matrixResult
			for _, spec := range specs {
				for _, from := range sc.names {
					for _, to := range sc.names {
						r := matrixResult{From: from, To: to, Port: spec.String(), Verdict: sc.familyVerdict(from, to, spec, family)}
						results = append(results, labMatrixResult{r, family})
						plain = append(plain, r)
					}
				}
			}
			if output == "json" {
				enc := json.NewEncoder(c.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(map[string]any{"results": results})
			}
			fmt.Fprintf(c.OutOrStdout(), "IPv%d\n", family)
			return writeMatrix(c.OutOrStdout(), sc.names, specs, plain, output)
		},
	}
	src.addFlags(c)
	c.Flags().IntVar(&family, "family", 0, "address family of the pods' addresses: 4 or 6 (default: each pod's IPv4 address where it has one)")
	c.Flags().StringSliceVar(&ports, "ports", []string{"tcp/80"}, "comma-separated PROTO/PORT list")
	c.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json")
	return c
}

type matrixResult struct {
	From    string `json:"from"`
	To      string `json:"to"`
	Port    string `json:"port"`
	Verdict string `json:"verdict"`
}

func (s *scenario) matrix(specs []traceSpec) ([]matrixResult, error) {
	var out []matrixResult
	for _, spec := range specs {
		for _, from := range s.names {
			for _, to := range s.names {
				v := "deny"
				res, err := s.trace(from, to, spec)
				if err == nil && res.Verdict == policy.ActionAllow {
					v = "allow"
				}
				out = append(out, matrixResult{From: from, To: to, Port: spec.String(), Verdict: v})
			}
		}
	}
	return out, nil
}

func writeMatrix(w io.Writer, names []string, specs []traceSpec, results []matrixResult, output string) error {
	if output == "json" {
		if results == nil {
			results = []matrixResult{}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"results": results})
	}
	i := 0
	for _, spec := range specs {
		fmt.Fprintf(w, "%s (rows: from, columns: to; . allow, X deny)\n", spec)
		for j, n := range names {
			fmt.Fprintf(w, "  %3d %s\n", j, n)
		}
		fmt.Fprintf(w, "     ")
		for j := range names {
			fmt.Fprintf(w, " %3d", j)
		}
		fmt.Fprintln(w)
		for j := range names {
			fmt.Fprintf(w, "  %3d", j)
			for range names {
				mark := "X"
				if results[i].Verdict == "allow" {
					mark = "."
				}
				fmt.Fprintf(w, " %3s", mark)
				i++
			}
			fmt.Fprintln(w)
		}
	}
	return nil
}
