package ctl

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

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
}

// NewGetCmd returns `trellis get KIND [NAME...] [-n NS | -A] [-l SELECTOR] [-o FORMAT]`.
func NewGetCmd(o *Options) *cobra.Command {
	f := &getFlags{}
	c := &cobra.Command{
		Use:   "get KIND [NAME...]",
		Short: "Show resources",
		Long: "Show resources of one kind. KIND is case-insensitive and may be plural or short\n" +
			"(gnp, netpol, ippool, knp, po, ns, ...). Without NAME every resource of the kind is\n" +
			"listed. Output formats: table (default), wide, yaml, json.",
		Args: cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			kind, err := model.Resolve(args[0])
			if err != nil {
				return UsageError{Err: err}
			}
			if err := checkOutput(f.output); err != nil {
				return err
			}
			sel := labels.Everything()
			if f.selector != "" {
				if sel, err = labels.Parse(f.selector); err != nil {
					return Usagef("invalid label selector %q: %v", f.selector, err)
				}
			}
			st, err := o.OpenStore(c.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			objs, err := fetch(c.Context(), st, kind, args[1:], f, sel)
			if err != nil {
				return err
			}
			if len(args) == 1 && len(objs) == 0 && f.output != "json" && f.output != "yaml" {
				fmt.Fprintf(c.ErrOrStderr(), "No resources found.\n")
				return nil
			}
			return printObjects(c.OutOrStdout(), kind, objs, tableOptions{format: f.output, allNS: f.allNamespaces, labels: f.showLabels}, len(args) == 2)
		},
	}
	c.Flags().StringVarP(&f.namespace, "namespace", "n", "", "namespace (default \"default\")")
	c.Flags().BoolVarP(&f.allNamespaces, "all-namespaces", "A", false, "list across all namespaces")
	c.Flags().StringVarP(&f.selector, "selector", "l", "", "label selector (Kubernetes syntax: a=b,c!=d,e in (f,g))")
	c.Flags().StringVarP(&f.output, "output", "o", "table", "output format: table, wide, yaml or json")
	c.Flags().BoolVar(&f.showLabels, "show-labels", false, "add a LABELS column to table output")
	return c
}

func checkOutput(format string) error {
	switch format {
	case "table", "wide", "yaml", "json":
		return nil
	}
	return Usagef("unknown output format %q: use table, wide, yaml or json", format)
}

func fetch(ctx context.Context, st store.Store, kind *model.Kind, names []string, f *getFlags, sel labels.Selector) ([]model.Object, error) {
	ns := namespaceFor(kind, f.namespace)
	if len(names) == 0 {
		opts := store.ListOptions{Namespace: ns, Labels: sel}
		if f.allNamespaces {
			opts.Namespace = ""
		}
		res, err := st.List(ctx, kind, opts)
		if err != nil {
			return nil, err
		}
		return res.Items, nil
	}
	var objs []model.Object
	for _, n := range names {
		obj, err := st.Get(ctx, kind, ns, n)
		if err != nil {
			return nil, err
		}
		objs = append(objs, obj)
	}
	return objs, nil
}

// printObjects writes objs in the requested format. A single named object is printed
// bare in yaml/json; anything else as a v1 List, which `trellis apply` reads back.
func printObjects(w io.Writer, kind *model.Kind, objs []model.Object, opts tableOptions, single bool) error {
	switch format := opts.format; format {
	case "yaml", "json":
		var v any = listOf(objs)
		if single {
			v = objs[0]
		}
		if format == "json" {
			b, err := json.MarshalIndent(v, "", "  ")
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(w, "%s\n", b)
			return err
		}
		b, err := yaml.Marshal(v)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	}
	return printTable(w, kind, objs, opts)
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
