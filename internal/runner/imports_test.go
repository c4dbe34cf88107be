package runner

import (
	"testing"

	"github.com/trellisnet/trellis/internal/archtest"
)

// TestStdlibOnly keeps the runner free of what its loops do: no store, no kernel, no
// logging.
func TestStdlibOnly(t *testing.T) {
	archtest.Check(t, ".", "the runner must import the standard library only", archtest.Rules{StdlibOnly: true,
		Forbidden: []string{"log", "log/slog", "os", "os/exec", "net"}})
}
