package route

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/trellisnet/trellis/internal/model"
)

// benchInput is a cluster of n nodes, each with two blocks, in a full mesh with a VXLAN
// pool.
func benchInput(n int) Input {
	in := Input{BGP: true}
	p := &model.IPPool{Spec: model.IPPoolSpec{CIDR: "10.0.0.0/8", VXLANMode: model.EncapCrossSubnet}}
	p.Name = "pods"
	in.Pools = append(in.Pools, p)
	for i := range n {
		nd := &model.Node{Spec: model.NodeSpec{BGP: &model.NodeBGPSpec{IPv4Address: fmt.Sprintf("172.16.%d.%d/16", i/250, i%250+1)},
			IPv4VXLANTunnelAddr: fmt.Sprintf("10.%d.%d.1", i/250, i%250),
			VXLANTunnelMACAddr:  fmt.Sprintf("66:00:00:00:%02x:%02x", i/256, i%256)}}
		nd.Name = fmt.Sprintf("node-%04d", i)
		in.Nodes = append(in.Nodes, nd)
		for j := range 2 {
			in.Blocks = append(in.Blocks, Block{CIDR: netip.MustParsePrefix(fmt.Sprintf("10.%d.%d.%d/26", i/250, i%250, 64*j)), Node: nd.Name})
		}
	}
	return in
}

func BenchmarkCompute(b *testing.B) {
	for _, n := range []int{10, 100} {
		in := benchInput(n)
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Compute(in)
			}
		})
	}
}
