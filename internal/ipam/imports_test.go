package ipam

import (
	"testing"

	"github.com/trellisnet/trellis/internal/archtest"
)

// TestPureCoreImports keeps the package free of the edges (STYLE.md: pure core): no
// os, net, kernel or store imports, no goroutines, no clock reads.
func TestPureCoreImports(t *testing.T) {
	archtest.Check(t, ".", "forbidden in the ipam pure core", archtest.Rules{
		Forbidden: []string{"os", "os/exec", "net", "github.com/vishvananda/netlink",
			"sigs.k8s.io/knftables", "github.com/trellisnet/trellis/internal/store"},
		NoGoroutines: true,
		NoClock:      true,
	})
}
