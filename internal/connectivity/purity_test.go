package connectivity

import (
	"testing"

	"github.com/trellisnet/trellis/internal/archtest"
)

// TestPure keeps the package free of I/O, clock and goroutines; datastores are reached
// only through the store.Store it is handed.
func TestPure(t *testing.T) {
	archtest.Check(t, ".", "connectivity must stay pure", archtest.Rules{
		Forbidden: []string{"os", "os/exec", "net", "time", "syscall", "log", "log/slog",
			"github.com/vishvananda/netlink", "sigs.k8s.io/knftables"},
		NoGoroutines: true,
	})
}
