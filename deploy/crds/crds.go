package crds

import (
	"embed"
	"fmt"
	"io/fs"
	"sort"
)

// FS holds the generated CRD manifests, one per kind.
//
//go:embed *.yaml
var FS embed.FS

// Files returns the names of the manifests in FS, sorted.
func Files() ([]string, error) {
	names, err := fs.Glob(FS, "*.yaml")
	if err != nil {
		return nil, fmt.Errorf("list crds: %w", err)
	}
	sort.Strings(names)
	return names, nil
}

// FileName is the manifest name of the CRD of a kind: "<group>_<plural>.yaml".
func FileName(group, plural string) string { return group + "_" + plural + ".yaml" }
