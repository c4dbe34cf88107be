package controller

import (
	"net/netip"
	"slices"
	"strings"

	"github.com/trellisnet/trellis/internal/ipam"
)

// NodeRelease is the IPAM clean-up of one node that IPAM names (a block affinity, a
// block's affinity or an allocation's node attribute) but that is not a Kubernetes Node.
type NodeRelease struct {
	Node string
	// Release are the addresses assigned on the node that no workload holds any more:
	// its tunnel address, addresses of pods deleted without a CNI DEL.
	Release []ipam.Allocation
	// Held are addresses assigned on the node that a workload's endpoint still shows (a
	// pod bound to the deleted node that Kubernetes has not deleted yet). While there are
	// any, nothing of the node is released, as in Calico's kube-controllers.
	Held []ipam.Allocation
	// Blocks are the blocks affine to the node (by affinity record or by the block's own
	// affinity): released, an empty block deleted, one holding other nodes' addresses
	// kept without affinity.
	Blocks []netip.Prefix
}

// Ready says whether the node's IPAM can be released now: no workload holds its addresses.
func (r NodeRelease) Ready() bool { return len(r.Held) == 0 }

// PlanNodeRelease lists, sorted by node name, the clean-up of every node named in s for
// which nodeExists is false. holds says whether an allocation was made for a workload
// and whether that workload still holds it (ipamstore.Workloads.Holds). Addresses in the
// node's blocks that other nodes assigned (borrowed) are theirs, not part of the plan.
func PlanNodeRelease(s ipam.Snapshot, nodeExists func(string) bool, holds func(ipam.Allocation) (workload, held bool)) []NodeRelease {
	plans := map[string]*NodeRelease{}
	plan := func(node string) *NodeRelease {
		if node == "" || nodeExists(node) {
			return nil
		}
		p := plans[node]
		if p == nil {
			p = &NodeRelease{Node: node}
			plans[node] = p
		}
		return p
	}
	addBlock := func(node string, cidr netip.Prefix) {
		if p := plan(node); p != nil && !slices.Contains(p.Blocks, cidr) {
			p.Blocks = append(p.Blocks, cidr)
		}
	}
	for _, af := range s.Affinities {
		addBlock(af.Node, af.CIDR)
	}
	for _, b := range s.Blocks {
		addBlock(b.Affinity, b.CIDR)
		for _, al := range b.Allocated() {
			p := plan(al.Attrs[ipam.AttrNode])
			if p == nil {
				continue
			}
			if workload, held := holds(al); workload && held {
				p.Held = append(p.Held, al)
			} else {
				p.Release = append(p.Release, al)
			}
		}
	}
	out := make([]NodeRelease, 0, len(plans))
	for _, p := range plans {
		slices.SortFunc(p.Blocks, func(x, y netip.Prefix) int { return x.Addr().Compare(y.Addr()) })
		out = append(out, *p)
	}
	slices.SortFunc(out, func(x, y NodeRelease) int { return strings.Compare(x.Node, y.Node) })
	return out
}
