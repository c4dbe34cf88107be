package agentapi

import (
	"testing"

	"github.com/trellisnet/trellis/internal/archtest"
)

// TestStdlibOnly keeps the package light: the lab, the CLI and the controller import it
// without linking the agent's dataplane.
func TestStdlibOnly(t *testing.T) {
	archtest.Check(t, ".", "agentapi must import the standard library only", archtest.Rules{StdlibOnly: true})
}
