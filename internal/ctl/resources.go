package ctl

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/store"
)

// NewAPIResourcesCmd returns `trellis api-resources`: every kind with its names.
func NewAPIResourcesCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "api-resources",
		Short: "List the kinds of resources, with their short names",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			tw := tabwriter.NewWriter(c.OutOrStdout(), 0, 8, 3, ' ', 0)
			fmt.Fprintln(tw, "NAME\tSHORTNAMES\tAPIVERSION\tNAMESPACED\tKIND")
			for _, k := range sortedKinds() {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%t\t%s\n", k.Resource(), strings.Join(k.Short, ","), k.APIVersion(), k.Namespaced, k.Kind)
			}
			return tw.Flush()
		},
	}
}

// sortedKinds are the kinds a user can name, by resource name (internal ones last).
func sortedKinds() []*model.Kind {
	kinds := slices.Clone(model.Default.Kinds())
	slices.SortFunc(kinds, func(a, b *model.Kind) int {
		if a.Internal != b.Internal {
			if a.Internal {
				return 1
			}
			return -1
		}
		return strings.Compare(a.Resource(), b.Resource())
	})
	return kinds
}

// completeKindsAndNames completes the first argument with kind names (after a comma, the
// next kind) and later ones with the names of objects of that kind, asking the datastore
// briefly.
func completeKindsAndNames(o *Options) cobra.CompletionFunc {
	return func(c *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		if len(args) == 0 {
			prefix := ""
			if i := strings.LastIndex(toComplete, ","); i >= 0 {
				prefix = toComplete[:i+1]
			}
			var out []string
			for _, k := range sortedKinds() {
				for _, n := range append([]string{k.Resource()}, k.Short...) {
					out = append(out, prefix+n)
				}
			}
			return out, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace
		}
		return objectNames(c, o, args[0]), cobra.ShellCompDirectiveNoFileComp
	}
}

func objectNames(c *cobra.Command, o *Options, kindArg string) []string {
	kind, err := model.Resolve(kindArg)
	if err != nil || o.OpenStore == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(c.Context(), 3*time.Second)
	defer cancel()
	st, err := o.OpenStore(ctx)
	if err != nil {
		return nil
	}
	defer st.Close()
	ns := ""
	if f := c.Flags().Lookup("namespace"); f != nil {
		ns = namespaceFor(kind, f.Value.String())
	}
	res, err := st.List(ctx, kind, store.ListOptions{Namespace: ns})
	if err != nil {
		return nil
	}
	var names []string
	for _, obj := range res.Items {
		names = append(names, obj.GetName())
	}
	return names
}
