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

// TestKernelAffinitySurvivesFullSync records a client in a session-affinity set (as the
// packet path's `update` does) and runs a full sync: the set is declared by every sync
// but owned by packets, so the client must still be there, with its timeout running.
func TestKernelAffinitySurvivesFullSync(t *testing.T) {
	n := hostOnly(t)
	nft := kernelTable(t, n.Host, "trlaff")
	ap := NewApplier(nft)
	in, ok := serviceScenarios(t)["policies"]
	if !ok {
		t.Fatal("service scenario policies (with session affinity) not found")
	}
	want := RenderServices(Config{}, service.Compute(in))
	var dynamic string
	for name, s := range want.Sets {
		if s.Dynamic {
			dynamic = name
		}
	}
	if dynamic == "" {
		t.Fatal("scenario policies renders no session-affinity set")
	}
	ctx := context.Background()
	if _, err := ap.FullSync(ctx, want); err != nil {
		t.Fatal(err)
	}
	if err := nftFile(n.Host, "add element inet trlaff "+dynamic+" { 192.0.2.77 }\n"); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := ap.FullSync(ctx, RenderServices(Config{}, service.Compute(in))); err != nil {
			t.Fatal(err)
		}
	}
	els, err := nft.ListElements(ctx, "set", dynamic)
	if err != nil {
		t.Fatal(err)
	}
	if len(els) != 1 || len(els[0].Key) != 1 || els[0].Key[0] != "192.0.2.77" {
		t.Fatalf("affinity set %s after two full syncs holds %v, want the recorded client 192.0.2.77", dynamic, els)
	}
}
