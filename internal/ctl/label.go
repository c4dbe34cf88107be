package ctl

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/store"
)

// NewLabelCmd returns `trellis label KIND NAME key=value... key-...`.
func NewLabelCmd(o *Options) *cobra.Command {
	var namespace string
	var overwrite bool
	c := &cobra.Command{
		Use:   "label KIND NAME key=value... | key-...",
		Short: "Set (key=value) or remove (key-) labels on a resource",
		Args:  cobra.MinimumNArgs(3),
		RunE: func(c *cobra.Command, args []string) error {
			kind, err := model.Resolve(args[0])
			if err != nil {
				return UsageError{Err: err}
			}
			set, remove, err := parseLabelArgs(args[2:])
			if err != nil {
				return err
			}
			st, err := o.OpenStore(c.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			key := model.Key{Kind: kind, Namespace: namespaceFor(kind, namespace), Name: args[1]}
			for attempt := 0; ; attempt++ {
				obj, err := st.Get(c.Context(), kind, key.Namespace, key.Name)
				if err != nil {
					return fmt.Errorf("label %s: %w", key, err)
				}
				labels := obj.GetLabels()
				if labels == nil {
					labels = map[string]string{}
				}
				for k, v := range set {
					if old, ok := labels[k]; ok && old != v && !overwrite {
						return fmt.Errorf("label %s: %q already has the value %q: use --overwrite to change it", key, k, old)
					}
					labels[k] = v
				}
				for _, k := range remove {
					delete(labels, k)
				}
				obj.SetLabels(labels)
				_, err = st.Update(c.Context(), obj)
				if errors.Is(err, store.ErrConflict) && attempt < maxConflictRetries {
					continue
				}
				if err != nil {
					return fmt.Errorf("label %s: %w", key, err)
				}
				fmt.Fprintf(c.OutOrStdout(), "%s %q labeled\n", kind.Kind, key.Name)
				return nil
			}
		},
	}
	c.Flags().StringVarP(&namespace, "namespace", "n", "", "namespace (default \"default\")")
	c.Flags().BoolVar(&overwrite, "overwrite", false, "allow changing the value of an existing label")
	return c
}

// parseLabelArgs splits key=value and key- arguments, checking keys and values as
// Kubernetes does.
func parseLabelArgs(args []string) (map[string]string, []string, error) {
	set := map[string]string{}
	var remove []string
	for _, a := range args {
		if k, ok := strings.CutSuffix(a, "-"); ok && !strings.Contains(a, "=") {
			if errs := validation.IsQualifiedName(k); len(errs) > 0 {
				return nil, nil, Usagef("invalid label key %q: %s", k, strings.Join(errs, "; "))
			}
			remove = append(remove, k)
			continue
		}
		k, v, ok := strings.Cut(a, "=")
		if !ok {
			return nil, nil, Usagef("invalid label %q: want key=value or key-", a)
		}
		if errs := validation.IsQualifiedName(k); len(errs) > 0 {
			return nil, nil, Usagef("invalid label key %q: %s", k, strings.Join(errs, "; "))
		}
		if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
			return nil, nil, Usagef("invalid label value %q: %s", v, strings.Join(errs, "; "))
		}
		set[k] = v
	}
	return set, remove, nil
}

// maxConflictRetries bounds read-modify-write loops (apply, label) when another writer races.
const maxConflictRetries = 5
