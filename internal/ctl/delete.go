package ctl

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/refcheck"
	"github.com/trellisnet/trellis/internal/store"
)

// deleteFlags are delete's own flags beside the file flags.
type deleteFlags struct {
	selector string
	all      bool
}

// NewDeleteCmd returns `trellis delete -f FILE|DIR|-` and `trellis delete KIND
// (NAME... | -l SELECTOR | --all) [-n NS]`.
func NewDeleteCmd(o *Options) *cobra.Command {
	f := &writeFlags{}
	var df deleteFlags
	c := &cobra.Command{
		Use:   "delete (-f FILE|DIR|- | KIND (NAME... | -l SELECTOR | --all))",
		Short: "Delete resources named in files or on the command line",
		Example: "  trellis delete -f policy.yaml\n  trellis delete gnp default-deny\n" +
			"  trellis delete pods -n prod -l app=web\n  trellis delete netpol -n dev --all",
		ValidArgsFunction: completeKindsAndNames(o),
		RunE: func(c *cobra.Command, args []string) error {
			if err := checkDryRun(orDefault(f.dryRun, dryRunNone)); err != nil {
				return err
			}
			switch {
			case len(f.files) > 0 && len(args) > 0:
				return Usagef("give either -f or KIND NAME, not both")
			case len(f.files) > 0:
				f.progress = Terminal(c.ErrOrStderr())
				return runWrite(c.Context(), o, modeDelete, f, c.InOrStdin(), c.OutOrStdout())
			case len(args) == 0:
				return Usagef("delete needs -f FILE or KIND NAME...")
			case (df.selector != "" || df.all) && len(args) > 1:
				return Usagef("give names or -l/--all, not both")
			case df.selector == "" && !df.all && len(args) < 2:
				return Usagef("delete needs names, -l SELECTOR or --all after the kind")
			}
			kind, err := model.Resolve(args[0])
			if err != nil {
				return UsageError{Err: err}
			}
			st, err := o.OpenStore(c.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			return deleteNamed(c.Context(), st, kind, args[1:], f, df, c.OutOrStdout(), c.ErrOrStderr())
		},
	}
	addFileFlags(c, f)
	addDryRunFlag(c, f)
	c.Flags().StringVarP(&f.namespace, "namespace", "n", "", "namespace of KIND NAME, or for objects in -f files that name none (default \"default\")")
	c.Flags().BoolVar(&f.ignoreNotFound, "ignore-not-found", false, "treat a missing resource as deleted")
	c.Flags().StringVarP(&df.selector, "selector", "l", "", "delete the resources of KIND this label selector selects")
	c.Flags().BoolVar(&df.all, "all", false, "delete every resource of KIND (in the namespace)")
	return c
}

// deleteNamed deletes objects of kind by name, or those a selector (or --all) selects;
// missing names are reported after the others are deleted.
func deleteNamed(ctx context.Context, st store.Store, kind *model.Kind, names []string, f *writeFlags, df deleteFlags, out, errOut io.Writer) error {
	ns := namespaceFor(kind, f.namespace)
	if df.selector != "" || df.all {
		var err error
		if names, err = selectNames(ctx, st, kind, ns, df.selector); err != nil {
			return err
		}
		if len(names) == 0 {
			fmt.Fprintln(out, "No resources found.")
			return nil
		}
	}
	if kind == model.KindTier {
		if err := refcheck.CheckTierDeletes(ctx, st, names); err != nil {
			return err
		}
	}
	var missing int
	for _, name := range names {
		key := model.Key{Kind: kind, Namespace: ns, Name: name}
		if f.dryRun == dryRunClient || f.dryRun == dryRunServer {
			if _, err := st.Get(ctx, kind, ns, name); err != nil {
				return err
			}
			fmt.Fprintf(out, "%s deleted (dry run)\n", objectRef(key))
			continue
		}
		_, err := st.Delete(ctx, kind, ns, name, store.DeleteOptions{})
		switch {
		case errors.Is(err, store.ErrNotFound) && f.ignoreNotFound:
		case errors.Is(err, store.ErrNotFound):
			fmt.Fprintf(errOut, "Error: %s %q not found\n", kind.Resource(), name)
			missing++
		case err != nil:
			return err
		default:
			fmt.Fprintf(out, "%s deleted\n", objectRef(key))
		}
	}
	if missing > 0 {
		return fmt.Errorf("%d of %d not found: %w", missing, len(names), store.ErrNotFound)
	}
	return nil
}
