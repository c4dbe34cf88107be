package selector

import (
	"testing"

	"github.com/trellisnet/trellis/internal/archtest"
)

// TestImports keeps the package at the bottom of the dependency graph and pure: standard
// library only, and nothing that reaches the OS, network, clock or logs.
func TestImports(t *testing.T) {
	archtest.Check(t, ".", "the selector package uses only pure standard-library packages", archtest.Rules{
		Forbidden:  []string{"os", "os/exec", "net", "time", "log", "log/slog", "syscall", "unsafe"},
		StdlibOnly: true,
	})
}
