package routing

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net"
	"net/netip"

	"github.com/trellisnet/trellis/internal/agent/agentapi"
	"github.com/trellisnet/trellis/internal/ipam"
	"github.com/trellisnet/trellis/internal/ipam/ipamstore"
	"github.com/trellisnet/trellis/internal/model"
)

// TunnelMAC derives a node's VXLAN tunnel MAC from its name: locally administered,
// unicast, deterministic.
func TunnelMAC(node string) string {
	sum := sha256.Sum256([]byte("trellis-vxlan/" + node))
	mac := net.HardwareAddr(sum[:6])
	mac[0] = (mac[0] | 0x02) &^ 0x01
	return mac.String()
}

// ensureTunnel gives the node a VXLAN tunnel address (from IPAM, handle agentapi.TunnelHandle) and
// MAC and writes them to its Node with compare-and-swap. It returns the updated Node.
func (r *Router) ensureTunnel(ctx context.Context, own *model.Node, pools []*model.IPPool) (*model.Node, error) {
	a := ipam.New(ipamstore.New(r.st), ipamstore.Match)
	handle := agentapi.TunnelHandle(r.node)
	have, err := a.AddrsByHandle(ctx, handle)
	if err != nil {
		return nil, fmt.Errorf("vxlan tunnel address of node %s: %w", r.node, err)
	}
	var addr netip.Addr
	if len(have) > 0 {
		addr = have[0].Addr
	} else {
		in, err := ipamstore.Load(ctx, r.st)
		if err != nil {
			return nil, fmt.Errorf("vxlan tunnel address of node %s: %w", r.node, err)
		}
		var names []string
		for _, p := range pools {
			names = append(names, p.Name)
		}
		res, err := a.AutoAssign(ctx, ipam.AssignArgs{Node: r.node, NodeLabels: own.Labels, Handle: handle,
			Attrs: map[string]string{ipam.AttrNode: r.node, "type": "vxlanTunnelAddress"}, Num4: 1,
			Pools: in.Pools, IPv4Pools: names, Reserved: in.Reserved, Config: in.Config, Use: ipam.UseTunnel})
		if err != nil {
			return nil, fmt.Errorf("allocate vxlan tunnel address for node %s: %w", r.node, err)
		}
		if len(res.IPv4) == 0 {
			return nil, fmt.Errorf("allocate vxlan tunnel address for node %s: no address assigned", r.node)
		}
		addr = res.IPv4[0].Addr
	}
	cp := *own
	upd := &cp
	if upd.Spec.IPv4VXLANTunnelAddr == "" {
		upd.Spec.IPv4VXLANTunnelAddr = addr.String()
	}
	if upd.Spec.VXLANTunnelMACAddr == "" {
		upd.Spec.VXLANTunnelMACAddr = TunnelMAC(r.node)
	}
	obj, err := r.st.Update(ctx, upd)
	if err != nil {
		return nil, fmt.Errorf("record vxlan tunnel of node %s: %w", r.node, err)
	}
	r.log.Info("vxlan tunnel recorded", "addr", upd.Spec.IPv4VXLANTunnelAddr, "mac", upd.Spec.VXLANTunnelMACAddr)
	if n, ok := obj.(*model.Node); ok {
		return n, nil
	}
	return upd, nil
}
