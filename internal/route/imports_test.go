package route

import (
	"os/exec"
	"strings"
	"testing"
)

// TestPureImports keeps the package in the pure core: it imports no os, net, netlink or
// exec directly (model, below it, may).
func TestPureImports(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{join .Imports " "}}`, ".").Output()
	if err != nil {
		t.Skipf("go list unavailable: %v", err)
	}
	forbidden := map[string]bool{"os": true, "net": true, "os/exec": true, "syscall": true,
		"github.com/vishvananda/netlink": true, "github.com/osrg/gobgp/v4/pkg/server": true}
	for _, p := range strings.Fields(string(out)) {
		if forbidden[p] {
			t.Errorf("internal/route depends on %s; the pure core must not", p)
		}
	}
}
