package ctl

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/trellisnet/trellis/internal/selector"
)

// NewSelectorCmd returns `trellis selector`: offline tools for the selector language. It
// needs no datastore.
func NewSelectorCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "selector",
		Short: "Check, evaluate and canonicalise Calico selectors",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return Usagef("selector: a subcommand is required (match, canonical)")
		},
	}
	cmd.AddCommand(newSelectorMatchCmd(), newSelectorCanonicalCmd())
	return cmd
}

func newSelectorMatchCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "match SELECTOR [KEY=VALUE ...]",
		Short: "Print true if the labels match the selector, false if not",
		Example: `  trellis selector match 'app == "web" && tier in {"front", "api"}' app=web tier=api
  trellis selector match '!has(quarantine)'`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			labels, err := parseMatchLabels(args[1:])
			if err != nil {
				return err
			}
			sel, err := selector.Parse(args[0])
			if err != nil {
				return fmt.Errorf("selector match: %w", err)
			}
			_, err = fmt.Fprintln(c.OutOrStdout(), sel.Matches(labels))
			return err
		},
	}
}

func newSelectorCanonicalCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "canonical SELECTOR",
		Short:   "Print the canonical form of a selector",
		Example: `  trellis selector canonical "a=='1' && b in {'y','x'} || !has(c)"`,
		Args:    cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			sel, err := selector.Parse(args[0])
			if err != nil {
				return fmt.Errorf("selector canonical: %w", err)
			}
			_, err = fmt.Fprintln(c.OutOrStdout(), sel)
			return err
		},
	}
}

// parseMatchLabels turns KEY=VALUE arguments into a label set. The value may be empty and may
// contain '='; the key may not be empty or repeated.
func parseMatchLabels(args []string) (selector.Map, error) {
	labels := selector.Map{}
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if !ok || k == "" {
			return nil, Usagef("selector match: label %q: want KEY=VALUE", a)
		}
		if _, dup := labels[k]; dup {
			return nil, Usagef("selector match: label %q given twice", k)
		}
		labels[k] = v
	}
	return labels, nil
}
