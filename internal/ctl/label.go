package ctl

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/store"
)

// NewLabelCmd returns `trellis label KIND NAME... key=value... key-...` and
// `trellis label KIND -l SELECTOR key=value...`.
func NewLabelCmd(o *Options) *cobra.Command {
	var lf labelFlags
	c := &cobra.Command{
		Use:   "label KIND (NAME... | -l SELECTOR | --all) key=value... | key-...",
		Short: "Set (key=value) or remove (key-) labels on resources",
		Example: "  trellis label pod web -n prod tier=frontend\n  trellis label pods -n prod -l app=web tier=frontend\n" +
			"  trellis label ippool default-ipv4-ippool zone-",
		Args:              cobra.MinimumNArgs(2),
		ValidArgsFunction: completeKindsAndNames(o),
		RunE: func(c *cobra.Command, args []string) error {
			kind, err := model.Resolve(args[0])
			if err != nil {
				return UsageError{Err: err}
			}
			names, changes := splitLabelArgs(args[1:])
			set, remove, err := parseLabelArgs(changes)
			if err != nil {
				return err
			}
			if err := lf.check(names, changes); err != nil {
				return err
			}
			st, err := o.OpenStore(c.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			ns := namespaceFor(kind, lf.namespace)
			if lf.selector != "" || lf.all {
				if names, err = selectNames(c.Context(), st, kind, ns, lf.selector); err != nil {
					return err
				}
			}
			for _, name := range names {
				key := model.Key{Kind: kind, Namespace: ns, Name: name}
				if err := labelOne(c.Context(), st, key, set, remove, lf.overwrite); err != nil {
					return err
				}
				fmt.Fprintf(c.OutOrStdout(), "%s labeled\n", objectRef(key))
			}
			return nil
		},
	}
	c.Flags().StringVarP(&lf.namespace, "namespace", "n", "", "namespace (default \"default\")")
	c.Flags().BoolVar(&lf.overwrite, "overwrite", false, "allow changing the value of an existing label")
	c.Flags().StringVarP(&lf.selector, "selector", "l", "", "label the resources this label selector selects (Kubernetes syntax)")
	c.Flags().BoolVar(&lf.all, "all", false, "label every resource of the kind (in the namespace)")
	return c
}

type labelFlags struct {
	namespace, selector string
	overwrite, all      bool
}

func (lf labelFlags) check(names, changes []string) error {
	switch {
	case len(changes) == 0:
		return Usagef("no label changes given: want key=value or key-")
	case (lf.selector != "" || lf.all) && len(names) > 0:
		return Usagef("give names or -l/--all, not both")
	case lf.selector == "" && !lf.all && len(names) == 0:
		return Usagef("no resource named: give NAME..., -l SELECTOR or --all")
	}
	return nil
}

// splitLabelArgs separates resource names from key=value and key- changes.
func splitLabelArgs(args []string) (names, changes []string) {
	for _, a := range args {
		if strings.Contains(a, "=") || strings.HasSuffix(a, "-") {
			changes = append(changes, a)
		} else {
			names = append(names, a)
		}
	}
	return names, changes
}

// selectNames lists the names of the objects a Kubernetes label selector selects.
func selectNames(ctx context.Context, st store.Store, kind *model.Kind, ns, selector string) ([]string, error) {
	sel, err := parseSelector(selector)
	if err != nil {
		return nil, err
	}
	res, err := st.List(ctx, kind, store.ListOptions{Namespace: ns, Labels: sel})
	if err != nil {
		return nil, err
	}
	var names []string
	for _, obj := range res.Items {
		names = append(names, obj.GetName())
	}
	return names, nil
}

// labelOne changes one object's labels, read-modify-write with retries on conflict.
func labelOne(ctx context.Context, st store.Store, key model.Key, set map[string]string, remove []string, overwrite bool) error {
	for attempt := 1; ; attempt++ {
		obj, err := st.Get(ctx, key.Kind, key.Namespace, key.Name)
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
		_, err = st.Update(ctx, obj)
		if errors.Is(err, store.ErrConflict) && attempt < maxApplyAttempts {
			backoff(ctx, attempt)
			continue
		}
		if err != nil {
			return fmt.Errorf("label %s: %w", key, err)
		}
		return nil
	}
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
