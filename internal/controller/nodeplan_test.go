package controller

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/trellisnet/trellis/internal/agent/agentapi"
	"github.com/trellisnet/trellis/internal/ipam"
	"github.com/trellisnet/trellis/internal/ipam/ipamstore"
)

// nodeReleaseText is a plan as comparable text: handles released and held, blocks.
func nodeReleaseText(ps []NodeRelease) []string {
	var out []string
	for _, p := range ps {
		var rel, held []string
		for _, al := range p.Release {
			rel = append(rel, al.Handle)
		}
		for _, al := range p.Held {
			held = append(held, al.Handle)
		}
		out = append(out, fmt.Sprintf("%s release=%v held=%v blocks=%v ready=%v", p.Node, rel, held, p.Blocks, p.Ready()))
	}
	return out
}

func TestPlanNodeRelease(t *testing.T) {
	ctx := context.Background()
	a := ipam.New(ipam.NewMemStore(), ipamstore.Match)
	pool := ipam.Pool{Name: "p", CIDR: netip.MustParsePrefix("192.0.2.0/24"), BlockSize: 28}
	// assign gives handle an address from node's block, recorded as assigned on attrNode.
	assign := func(node, attrNode, handle string, kv ...string) netip.Addr {
		t.Helper()
		attrs := map[string]string{ipam.AttrNode: attrNode}
		for i := 0; i+1 < len(kv); i += 2 {
			attrs[kv[i]] = kv[i+1]
		}
		res, err := a.AutoAssign(ctx, ipam.AssignArgs{Node: node, Handle: handle, Attrs: attrs, Num4: 1, Pools: []ipam.Pool{pool}})
		if err != nil {
			t.Fatal(err)
		}
		return res.IPv4[0].Addr
	}
	pod := func(ns, name, cid string) []string {
		return []string{ipam.AttrNamespace, ns, ipam.AttrPod, name, ipam.AttrContainerID, cid}
	}
	assign("n1", "n1", agentapi.TunnelHandle("n1"))
	// n2 is gone: its tunnel, a pod deleted without a CNI DEL, an address n1 borrowed from
	// its block for a live pod (n1's, not part of n2's plan).
	assign("n2", "n2", agentapi.TunnelHandle("n2"))
	assign("n2", "n2", "k8s-pod-network.gone", pod("default", "gone", "gone")...)
	borrowed := assign("n2", "n1", "k8s-pod-network.borrowed", pod("default", "borrowed", "borrowed")...)
	// n3 is gone but a pod bound to it still shows its address.
	assign("n3", "n3", agentapi.TunnelHandle("n3"))
	live := assign("n3", "n3", "k8s-pod-network.live", pod("default", "live", "live")...)
	// n4 is gone and left an empty block behind.
	assign("n4", "n4", "h4")
	if _, err := a.ReleaseByHandle(ctx, "h4"); err != nil {
		t.Fatal(err)
	}
	snap, err := a.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	blockOf := map[string]netip.Prefix{}
	for _, af := range snap.Affinities {
		blockOf[af.Node] = af.CIDR
	}
	workloads := ipamstore.Workloads{
		live:     {Namespace: "default", Pod: "live", ContainerID: "live", Node: "n3"},
		borrowed: {Namespace: "default", Pod: "borrowed", ContainerID: "borrowed", Node: "n1"},
	}
	exists := func(n string) bool { return n == "n1" }
	want := []string{
		fmt.Sprintf("n2 release=[%s k8s-pod-network.gone] held=[] blocks=[%s] ready=true", agentapi.TunnelHandle("n2"), blockOf["n2"]),
		fmt.Sprintf("n3 release=[%s] held=[k8s-pod-network.live] blocks=[%s] ready=false", agentapi.TunnelHandle("n3"), blockOf["n3"]),
		fmt.Sprintf("n4 release=[] held=[] blocks=[%s] ready=true", blockOf["n4"]),
	}
	if diff := cmp.Diff(want, nodeReleaseText(PlanNodeRelease(snap, exists, workloads.Holds))); diff != "" {
		t.Errorf("plan (-want +got):\n%s", diff)
	}
	// The plan does not depend on the order of the snapshot.
	slices.Reverse(snap.Blocks)
	slices.Reverse(snap.Affinities)
	if diff := cmp.Diff(want, nodeReleaseText(PlanNodeRelease(snap, exists, workloads.Holds))); diff != "" {
		t.Errorf("plan of the reversed snapshot (-want +got):\n%s", diff)
	}
	// A node whose block lost its affinity record is still found through the block.
	snap.Affinities = nil
	if got := nodeReleaseText(PlanNodeRelease(snap, exists, workloads.Holds)); len(got) != 3 || got[2] != want[2] {
		t.Errorf("plan without affinity records: %v", got)
	}
	if got := PlanNodeRelease(snap, func(string) bool { return true }, workloads.Holds); len(got) != 0 {
		t.Errorf("every node exists, plan %v", nodeReleaseText(got))
	}
}
