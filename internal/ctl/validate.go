package ctl

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/trellisnet/trellis/internal/refcheck"
)

// NewValidateCmd returns `trellis validate -f FILE|DIR|- [-R]`: offline strict decoding,
// defaulting and validation of manifests. Every problem is reported (in the returned error,
// exit 1); on success it prints a one-line summary, after any warnings.
func NewValidateCmd() *cobra.Command {
	var files []string
	var recursive bool
	cmd := &cobra.Command{
		Use:   "validate -f FILE|DIR|- [-R]",
		Short: "Check manifests offline: strict decoding, defaults and validation, every problem reported",
		Long: `Validate reads Calico projectcalico.org/v3 and Kubernetes manifests (YAML or JSON,
several documents per file, kind: List) without contacting the datastore, and reports
every problem as FILE: document N (Kind/namespace/name): FIELD.PATH: Reason: value.
It exits 0 when everything is valid, 1 otherwise.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(files) == 0 {
				return Usagef("validate needs at least one -f FILE|DIR|-")
			}
			m, err := LoadManifestSet(files, cmd.InOrStdin(), recursive)
			if err != nil {
				return err
			}
			for _, w := range append(m.Warnings(), refcheck.TierWarnings(m.Documents)...) {
				fmt.Fprintln(cmd.ErrOrStderr(), "Warning:", w.String())
			}
			fmt.Fprintf(cmd.OutOrStdout(), "valid: %s in %s\n", plural(len(m.Documents), "document"), plural(m.Files, "file"))
			return nil
		},
	}
	cmd.Flags().StringArrayVarP(&files, "filename", "f", nil, "manifest file, directory or - for standard input (repeatable)")
	cmd.Flags().BoolVarP(&recursive, "recursive", "R", false, "read directories recursively")
	return cmd
}

func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}
