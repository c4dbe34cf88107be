// Package kubebin finds the Kubernetes binaries that `make kube` (scripts/kube.sh) builds
// into a versioned cache outside the repository; the lab and the test harness run them.
package kubebin

import (
	"fmt"
	"os"
	"path/filepath"
)

// Version is the Kubernetes release the helpers run (what scripts/kube.sh builds).
const Version = "v1.37.1"

// DefaultCache is the root of scripts/kube.sh's cache when TRELLIS_KUBE_CACHE is unset.
const DefaultCache = "/var/cache/trellis/kube"

// BinDir is the directory holding the Kubernetes binaries: $TRELLIS_KUBE_BIN, else
// ${TRELLIS_KUBE_CACHE:-DefaultCache}/Version/bin.
func BinDir() string {
	if d := os.Getenv("TRELLIS_KUBE_BIN"); d != "" {
		return d
	}
	cache := os.Getenv("TRELLIS_KUBE_CACHE")
	if cache == "" {
		cache = DefaultCache
	}
	return filepath.Join(cache, Version, "bin")
}

// FindBinaries returns the paths of the named binaries in BinDir, or an error naming the
// first one missing and how to build it.
func FindBinaries(names ...string) (map[string]string, error) {
	dir := BinDir()
	out := map[string]string{}
	for _, n := range names {
		p := filepath.Join(dir, n)
		st, err := os.Stat(p)
		if err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
			return nil, fmt.Errorf("%s %s not found in %s: build it with `make kube` "+
				"(or set TRELLIS_KUBE_BIN)", n, Version, dir)
		}
		out[n] = p
	}
	return out, nil
}
