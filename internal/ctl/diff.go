package ctl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/spf13/cobra"

	"github.com/trellisnet/trellis/internal/model"
)

// DiffExitError is the exit code of `trellis diff`: 1 when the files differ from the
// datastore, as kubectl diff and diff(1) say it.
type DiffExitError struct{ Code int }

func (e DiffExitError) Error() string { return "the manifests differ from the datastore" }

// NewDiffCmd returns `trellis diff -f`: what `apply -f` would change, as a unified diff of
// the stored objects against the objects apply would write.
func NewDiffCmd(o *Options) *cobra.Command {
	f := &writeFlags{}
	c := &cobra.Command{
		Use:   "diff -f FILE|DIR|-",
		Short: "Show what apply would change: the datastore's objects against the manifests",
		Long: "Compare every object of the manifests with the stored one, as apply would write it\n" +
			"(server-set fields kept, metadata that only the datastore manages left out), and\n" +
			"print a unified diff (diff -u). Exit code 0: no differences; 1: differences; 2 or\n" +
			"more: an error.",
		Example: "  trellis diff -f policy.yaml",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return runDiff(c.Context(), o, f, c.InOrStdin(), c.OutOrStdout())
		},
	}
	addFileFlags(c, f)
	c.Flags().StringVarP(&f.namespace, "namespace", "n", "", "namespace for namespaced objects that name none (default \"default\")")
	return c
}

func runDiff(ctx context.Context, o *Options, f *writeFlags, stdin io.Reader, out io.Writer) error {
	if len(f.files) == 0 {
		return Usagef("at least one -f FILE|DIR|- is required")
	}
	m, err := loadManifestSet(f.files, stdin, f.recursive, f.namespace)
	if err != nil {
		return err
	}
	st, err := o.OpenStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	dir, err := os.MkdirTemp("", "trellis-diff-")
	if err != nil {
		return fmt.Errorf("diff: %w", err)
	}
	defer os.RemoveAll(dir)
	live, merged := filepath.Join(dir, "LIVE"), filepath.Join(dir, "MERGED")
	for _, d := range m.Documents {
		key, _ := model.KeyOf(d.Object)
		p, err := planApply(ctx, st, nil, d.Object)
		if err != nil {
			return fmt.Errorf("%s: %s: %w", d.Source, key, err)
		}
		name := strings.ReplaceAll(objectRef(key), "/", ".")
		if key.Namespace != "" {
			name = key.Namespace + "." + name
		}
		if err := writeDiffSide(live, name, p.cur); err != nil {
			return err
		}
		if err := writeDiffSide(merged, name, p.next); err != nil {
			return err
		}
	}
	return runDiffTool(dir, out)
}

// writeDiffSide writes obj (none: no file) as YAML without the metadata only the datastore
// manages, so the diff shows what the user controls.
func writeDiffSide(dir, name string, obj model.Object) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("diff: %w", err)
	}
	if obj == nil {
		return nil
	}
	c := model.Clone(obj)
	c.SetResourceVersion("")
	c.SetUID("")
	c.SetGeneration(0)
	c.SetCreationTimestamp(metav1.Time{})
	c.SetManagedFields(nil)
	b, err := yaml.Marshal(c)
	if err != nil {
		return fmt.Errorf("diff: encode %s: %w", name, err)
	}
	return os.WriteFile(filepath.Join(dir, name), b, 0o600)
}

// runDiffTool runs diff -u -N -r LIVE MERGED in dir, its output to out.
func runDiffTool(dir string, out io.Writer) error {
	cmd := exec.Command("diff", "-u", "-N", "-r", "LIVE", "MERGED")
	cmd.Dir = dir
	cmd.Stdout = out
	var stderr strings.Builder
	cmd.Stderr = &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ee) && ee.ExitCode() == 1:
		return DiffExitError{Code: 1}
	case errors.Is(err, exec.ErrNotFound):
		return fmt.Errorf("diff: the diff program is required: apt-get install diffutils")
	}
	return fmt.Errorf("diff: %v: %s", err, stderr.String())
}
