package route

import (
	"testing"

	"github.com/trellisnet/trellis/internal/archtest"
)

// TestPureImports keeps the package in the pure core: it imports no os, net, netlink or
// exec directly (model, below it, may).
func TestPureImports(t *testing.T) {
	archtest.Check(t, ".", "the route pure core must not", archtest.Rules{
		Forbidden: []string{"os", "net", "os/exec", "syscall",
			"github.com/vishvananda/netlink", "github.com/osrg/gobgp/v4/pkg/server"},
	})
}
