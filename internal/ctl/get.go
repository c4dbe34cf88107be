package ctl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"

	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/store"
)

type getFlags struct {
	namespace     string
	allNamespaces bool
	selector      string
	output        string
	showLabels    bool
	watch         bool
}

// NewGetCmd returns `trellis get KIND[,KIND...] [NAME...] [-n NS | -A] [-l SELECTOR]
// [-o FORMAT] [-w]`.
func NewGetCmd(o *Options) *cobra.Command {
	f := &getFlags{}
	c := &cobra.Command{
		Use:   "get KIND[,KIND...] [NAME...]",
		Short: "Show resources",
		Long: "Show resources of one or more kinds. KIND is case-insensitive and may be plural or\n" +
			"short (gnp, netpol, ippool, knp, po, ns, ...; `trellis api-resources` lists them all);\n" +
			"several kinds are separated by commas. Without NAME every resource of the kind is\n" +
			"listed; names that do not exist are reported after the ones found. Output formats:\n" +
			"table (default), wide, yaml, json, name, jsonpath=TEMPLATE. With -w, changes are\n" +
			"printed as they happen after the current state.",
		Example: "  trellis get gnp,knp -A\n  trellis get pods -n prod -o jsonpath='{.items[*].status.podIP}'\n" +
			"  trellis get netpol -n prod -w",
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: completeKindsAndNames(o),
		RunE: func(c *cobra.Command, args []string) error {
			kinds, err := resolveKinds(args[0])
			if err != nil {
				return err
			}
			out, err := parseOutput(f.output)
			if err != nil {
				return err
			}
			if len(kinds) > 1 && len(args) > 1 {
				return Usagef("names can be given with one kind only")
			}
			if f.watch && len(kinds) > 1 {
				return Usagef("-w watches one kind")
			}
			sel, err := parseSelector(f.selector)
			if err != nil {
				return err
			}
			st, err := o.OpenStore(c.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			g := getter{st: st, f: f, out: out, sel: sel, w: c.OutOrStdout(), stderr: c.ErrOrStderr(), multi: len(kinds) > 1}
			return g.run(c.Context(), kinds, args[1:])
		},
	}
	c.Flags().StringVarP(&f.namespace, "namespace", "n", "", "namespace (default \"default\")")
	c.Flags().BoolVarP(&f.allNamespaces, "all-namespaces", "A", false, "list across all namespaces")
	c.Flags().StringVarP(&f.selector, "selector", "l", "", "label selector (Kubernetes syntax: a=b,c!=d,e in (f,g))")
	c.Flags().StringVarP(&f.output, "output", "o", "table", "output format: table, wide, yaml, json, name or jsonpath=TEMPLATE")
	c.Flags().BoolVar(&f.showLabels, "show-labels", false, "add a LABELS column to table output")
	c.Flags().BoolVarP(&f.watch, "watch", "w", false, "after the current state, print every change until interrupted")
	_ = c.RegisterFlagCompletionFunc("output", completeOutput)
	return c
}

// resolveKinds resolves a comma-separated list of kind names.
func resolveKinds(arg string) ([]*model.Kind, error) {
	var kinds []*model.Kind
	for _, name := range strings.Split(arg, ",") {
		k, err := model.Resolve(strings.TrimSpace(name))
		if err != nil {
			return nil, UsageError{Err: fmt.Errorf("%w (see `trellis api-resources`)", err)}
		}
		kinds = append(kinds, k)
	}
	return kinds, nil
}

func parseSelector(s string) (labels.Selector, error) {
	if s == "" {
		return labels.Everything(), nil
	}
	sel, err := labels.Parse(s)
	if err != nil {
		return nil, Usagef("invalid label selector %q: %v", s, err)
	}
	return sel, nil
}

// getter runs one `get`.
type getter struct {
	st        store.Store
	f         *getFlags
	out       output
	sel       labels.Selector
	w, stderr io.Writer
	multi     bool // several kinds: names printed as kind.group/name, a table per kind
}

func (g getter) run(ctx context.Context, kinds []*model.Kind, names []string) error {
	var missing []string
	found := 0
	var all []model.Object
	var rev string
	for i, kind := range kinds {
		objs, miss, r, err := g.fetch(ctx, kind, names)
		if err != nil {
			return err
		}
		rev = r
		missing = append(missing, miss...)
		found += len(objs)
		if g.out.structured() {
			all = append(all, objs...)
			continue
		}
		if len(objs) > 0 {
			if g.multi && i > 0 && g.out.format != "name" {
				fmt.Fprintln(g.w)
			}
			if err := g.print(kind, objs); err != nil {
				return err
			}
		}
	}
	if g.out.structured() && (found > 0 || len(names) == 0) {
		if err := g.printStructured(all, len(names) == 1 && len(kinds) == 1); err != nil {
			return err
		}
	}
	if found == 0 && len(names) == 0 && !g.out.structured() && !g.f.watch {
		fmt.Fprintln(g.stderr, "No resources found.")
		g.hint(ctx, kinds)
	}
	if g.f.watch && len(missing) == 0 {
		return g.watchKind(ctx, kinds[0], rev)
	}
	if len(missing) > 0 {
		for _, m := range missing {
			fmt.Fprintf(g.stderr, "Error: %s not found\n", m)
		}
		return fmt.Errorf("%d of %d not found: %w", len(missing), len(names), store.ErrNotFound)
	}
	return nil
}

// fetch lists the kind, or gets the named objects, returning the names not found.
func (g getter) fetch(ctx context.Context, kind *model.Kind, names []string) ([]model.Object, []string, string, error) {
	ns := namespaceFor(kind, g.f.namespace)
	if len(names) == 0 {
		opts := store.ListOptions{Namespace: ns, Labels: g.sel}
		if g.f.allNamespaces {
			opts.Namespace = ""
		}
		res, err := g.st.List(ctx, kind, opts)
		if err != nil {
			return nil, nil, "", err
		}
		return res.Items, nil, res.Revision, nil
	}
	var objs []model.Object
	var missing []string
	for _, n := range names {
		obj, err := g.st.Get(ctx, kind, ns, n)
		if errors.Is(err, store.ErrNotFound) {
			missing = append(missing, fmt.Sprintf("%s %q", strings.ToLower(kind.Kind), n))
			continue
		}
		if err != nil {
			return nil, nil, "", err
		}
		objs = append(objs, obj)
	}
	return objs, missing, "", nil
}

func (g getter) print(kind *model.Kind, objs []model.Object) error {
	switch g.out.format {
	case "name":
		for _, obj := range objs {
			key, _ := model.KeyOf(obj)
			fmt.Fprintln(g.w, objectRef(key))
		}
		return nil
	}
	return printTable(g.w, kind, objs, tableOptions{format: g.out.format, allNS: g.f.allNamespaces, labels: g.f.showLabels, kindPrefix: g.multi})
}

// printStructured writes yaml, json or a jsonpath over objs: a single named object bare,
// anything else as a v1 List, which `trellis apply` reads back.
func (g getter) printStructured(objs []model.Object, single bool) error {
	var v any = listOf(objs)
	if single && len(objs) == 1 {
		v = objs[0]
	}
	return writeStructured(g.w, g.out, v)
}

func writeStructured(w io.Writer, out output, v any) error {
	switch out.format {
	case "json":
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	case "jsonpath":
		return out.jsonpath(w, v)
	}
	b, err := yaml.Marshal(v)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

func listOf(objs []model.Object) map[string]any {
	items := make([]model.Object, len(objs))
	copy(items, objs)
	return map[string]any{"apiVersion": "v1", "kind": "List", "items": items}
}

// namespaceFor returns the namespace a namespaced kind uses when the user names none.
func namespaceFor(kind *model.Kind, flag string) string {
	switch {
	case !kind.Namespaced:
		return ""
	case flag == "":
		return "default"
	}
	return flag
}

// hint points at the other NetworkPolicy kind when the one asked for is empty but the
// other has objects: Calico's `networkpolicy` and Kubernetes' `knp` are easy to confuse.
func (g getter) hint(ctx context.Context, kinds []*model.Kind) {
	if len(kinds) != 1 {
		return
	}
	var other *model.Kind
	var name string
	switch kinds[0] {
	case model.KindNetworkPolicy:
		other, name = model.KindK8sNetworkPolicy, "knp (Kubernetes NetworkPolicy)"
	case model.KindK8sNetworkPolicy:
		other, name = model.KindNetworkPolicy, "networkpolicy (Calico NetworkPolicy, projectcalico.org/v3)"
	default:
		return
	}
	objs, _, _, err := g.fetch(ctx, other, nil)
	if err == nil && len(objs) > 0 {
		fmt.Fprintf(g.stderr, "Hint: %d %s found here: trellis get %s\n", len(objs), name, strings.Fields(name)[0])
	}
}
