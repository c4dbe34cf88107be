package model

import (
	"testing"

	"github.com/trellisnet/trellis/internal/archtest"
)

// TestPureCore keeps the package at the bottom and pure: no I/O, clock, logging, kernel
// packages, goroutines or imports of the packages built on it, in its non-test files.
//
// Unlike the stdlib-only cores it may import k8s.io/api and k8s.io/apimachinery (the
// Kubernetes types and field-path validation it is built on) and gopkg.in/yaml.v3 (the
// strict decoder with line numbers): all pure libraries.
func TestPureCore(t *testing.T) {
	archtest.Check(t, ".", "the model must stay pure", archtest.Rules{
		Forbidden: []string{"os", "os/exec", "net", "time", "syscall", "log", "log/slog",
			"github.com/vishvananda/netlink", "sigs.k8s.io/knftables",
			"github.com/trellisnet/trellis/internal/store", "github.com/trellisnet/trellis/internal/policy",
			"github.com/trellisnet/trellis/internal/ipam", "github.com/trellisnet/trellis/internal/cni",
			"github.com/trellisnet/trellis/internal/ctl", "github.com/trellisnet/trellis/internal/agent"},
		NoGoroutines: true,
		NoClock:      true,
	})
}
