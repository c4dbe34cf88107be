package ctl

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/store"
)

// NewDeleteCmd returns `trellis delete -f FILE|DIR|-` and `trellis delete KIND NAME... [-n NS]`.
func NewDeleteCmd(o *Options) *cobra.Command {
	f := &writeFlags{}
	c := &cobra.Command{
		Use:   "delete (-f FILE|DIR|- | KIND NAME...)",
		Short: "Delete resources named in files or on the command line",
		RunE: func(c *cobra.Command, args []string) error {
			switch {
			case len(f.files) > 0 && len(args) > 0:
				return Usagef("give either -f or KIND NAME, not both")
			case len(f.files) > 0:
				return runWrite(c.Context(), o, modeDelete, f, c.InOrStdin(), c.OutOrStdout())
			case len(args) < 2:
				return Usagef("delete needs -f FILE or KIND NAME...")
			}
			kind, err := model.Resolve(args[0])
			if err != nil {
				return UsageError{Err: err}
			}
			ns := namespaceFor(kind, f.namespace)
			st, err := o.OpenStore(c.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			if kind == model.KindTier {
				if err := checkTierDeletes(c.Context(), st, args[1:]); err != nil {
					return err
				}
			}
			for _, name := range args[1:] {
				_, err := st.Delete(c.Context(), kind, ns, name, store.DeleteOptions{})
				if err != nil && !(f.ignoreNotFound && errors.Is(err, store.ErrNotFound)) {
					return err
				}
				if err == nil {
					fmt.Fprintf(c.OutOrStdout(), "%s %q deleted\n", kind.Kind, name)
				}
			}
			return nil
		},
	}
	addFileFlags(c, f)
	c.Flags().StringVarP(&f.namespace, "namespace", "n", "", "namespace of KIND NAME, or for objects in -f files that name none (default \"default\")")
	c.Flags().BoolVar(&f.ignoreNotFound, "ignore-not-found", false, "treat a missing resource as deleted")
	return c
}
