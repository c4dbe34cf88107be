package nft

import (
	"context"
	"testing"

	"github.com/trellisnet/trellis/internal/service"
)

// TestKernelServicesApply loads every service scenario (IPv6, SCTP, affinity, NodePorts,
// rejects) into a real table, together with the policy table: the kernel's nft must
// accept the rendered syntax. Packets through services are tested with the node agent
// (internal/agent TestKernelServices). The first scenario is a full sync, the others
// partial ones.
func TestKernelServicesApply(t *testing.T) {
	n := hostOnly(t)
	nft := kernelTable(t, n.Host, "trlsvc")
	ap := NewApplier(nft)
	sr := NewServiceRenderer(Config{})
	a, b, c, s := testPods()
	for name, in := range serviceScenarios(t) {
		want := Render(Config{}, connectivityState(a, b, c, s))
		if err := want.Merge(sr.Render(service.Compute(in))); err != nil {
			t.Fatal(err)
		}
		if _, err := ap.Apply(context.Background(), want); err != nil {
			t.Fatalf("apply scenario %s: %v", name, err)
		}
	}
}
