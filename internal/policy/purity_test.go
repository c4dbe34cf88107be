package policy

import (
	"testing"

	"github.com/trellisnet/trellis/internal/archtest"
)

// TestPureCore keeps the package pure: no I/O, clock, logging, kernel packages or goroutines
// in its non-test files.
func TestPureCore(t *testing.T) {
	archtest.Check(t, ".", "the policy core must stay pure", archtest.Rules{
		Forbidden: []string{"os", "os/exec", "net", "time", "syscall", "log", "log/slog",
			"github.com/vishvananda/netlink", "sigs.k8s.io/knftables"},
		NoGoroutines: true,
	})
}
