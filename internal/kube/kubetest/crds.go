package kubetest

import (
	"io/fs"
	"strings"
	"testing"

	"github.com/trellisnet/trellis/deploy/crds"
)

// InstallCRDs applies every CRD of deploy/crds (server-side) and waits until all are
// Established, so the Trellis kinds are served.
func (c *Cluster) InstallCRDs(t testing.TB) {
	t.Helper()
	files, err := crds.Files()
	if err != nil {
		t.Fatal(err)
	}
	var all strings.Builder
	for _, f := range files {
		b, err := fs.ReadFile(crds.FS, f)
		if err != nil {
			t.Fatal(err)
		}
		all.WriteString("---\n")
		all.Write(b)
	}
	if _, err := c.Kubectl(all.String(), "apply", "--server-side", "--field-manager=trellis", "-f", "-"); err != nil {
		t.Fatalf("install crds: %v", err)
	}
	if out, err := c.Kubectl("", "wait", "--for=condition=Established", "--timeout=120s", "crd", "--all"); err != nil {
		t.Fatalf("crds not established: %v\n%s", err, out)
	}
}
