package lab

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"

	"github.com/vishvananda/netlink"

	"github.com/trellisnet/trellis/internal/netns"
)

// routeControlPlane gives a Kubernetes-mode lab's control-plane namespace a route to the pod
// pool with one equal-cost next hop per node, as a control plane that runs on a node reaches
// pods: the API server's proxy to pods and services (kubectl proxy, the Proxy conformance
// specs) and webhooks served by pods connect to pod addresses. The nodes forward to the
// pod's node by their own routes; the reply comes straight back over the fabric. It
// replaces the route, so it is called again whenever nodes are added or removed.
func routeControlPlane(st *State) error {
	pool := netip.MustParsePrefix(PoolCIDR)
	dst := &net.IPNet{IP: pool.Addr().AsSlice(), Mask: net.CIDRMask(pool.Bits(), 32)}
	cp := ControlPlaneNS(st.Name)
	return netns.Do(cp, func() error {
		l, err := netlink.LinkByName(underlayName)
		if err != nil {
			return fmt.Errorf("find link %s in %s: %w", underlayName, cp, err)
		}
		var hops []*netlink.NexthopInfo
		for _, n := range st.Nodes {
			p, err := netip.ParsePrefix(n.Address)
			if err != nil {
				return fmt.Errorf("node %s: address %q: %w", n.Name, n.Address, err)
			}
			hops = append(hops, &netlink.NexthopInfo{LinkIndex: l.Attrs().Index, Gw: p.Addr().AsSlice()})
		}
		if len(hops) == 0 {
			if err := netlink.RouteDel(&netlink.Route{Dst: dst}); err != nil && !errors.Is(err, syscall.ESRCH) {
				return fmt.Errorf("delete route %s in %s: %w", pool, cp, err)
			}
			return nil
		}
		if err := netlink.RouteReplace(&netlink.Route{Dst: dst, MultiPath: hops}); err != nil {
			return fmt.Errorf("replace route %s via the nodes in %s: %w", pool, cp, err)
		}
		return nil
	})
}
