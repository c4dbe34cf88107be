package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/trellisnet/trellis/internal/crdgen"
)

func main() {
	root := flag.String("root", "../..", "root of the Trellis module")
	out := flag.String("out", "", "output directory (default <root>/"+crdgen.Dir+")")
	flag.Parse()
	if err := run(*root, *out); err != nil {
		fmt.Fprintln(os.Stderr, "crdgen:", err)
		os.Exit(1)
	}
}

// run writes every generated CRD to out and removes stale generated files there.
func run(root, out string) error {
	if out == "" {
		out = filepath.Join(root, crdgen.Dir)
	}
	files, err := crdgen.Generate(root)
	if err != nil {
		return err
	}
	keep := map[string]bool{}
	for _, f := range files {
		keep[f.Name] = true
		if err := os.WriteFile(filepath.Join(out, f.Name), f.Data, 0o644); err != nil {
			return fmt.Errorf("write crd: %w", err)
		}
	}
	old, err := filepath.Glob(filepath.Join(out, "*.yaml"))
	if err != nil {
		return fmt.Errorf("list %s: %w", out, err)
	}
	for _, p := range old {
		if !keep[filepath.Base(p)] && strings.Contains(filepath.Base(p), "_") {
			if err := os.Remove(p); err != nil {
				return fmt.Errorf("remove stale crd: %w", err)
			}
		}
	}
	fmt.Printf("crdgen: wrote %d CRDs to %s\n", len(files), out)
	return nil
}
