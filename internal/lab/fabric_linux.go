package lab

import (
	"fmt"
	"net"
	"net/netip"
	"os"

	"github.com/vishvananda/netlink"

	"github.com/trellisnet/trellis/internal/netns"
)

const (
	bridgeName   = "br0"
	underlayName = "eth0"
)

// underlayAddr is node i's (from 1) underlay address with its prefix length.
func underlayAddr(i int) netip.Prefix {
	base := netip.MustParsePrefix(UnderlayCIDR).Addr().As4()
	base[3] = byte(10 + i)
	return netip.PrefixFrom(netip.AddrFrom4(base), 24)
}

// gatewayAddr is the fabric bridge's address: the nodes' default gateway. The fabric
// namespace does not forward, so nothing sent there goes further; the route only gives
// the nodes a default route, without which proxy ARP would not answer the pods' requests
// for their gateway 169.254.1.1.
func gatewayAddr() netip.Prefix {
	base := netip.MustParsePrefix(UnderlayCIDR).Addr().As4()
	base[3] = 1
	return netip.PrefixFrom(netip.AddrFrom4(base), 24)
}

// createFabric makes the fabric namespace with its bridge.
func createFabric(name string) error {
	ns := FabricNS(name)
	if err := netns.Create(ns); err != nil {
		return err
	}
	return netns.Do(ns, func() error {
		if err := linkUp("lo"); err != nil {
			return err
		}
		br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: bridgeName}}
		if err := netlink.LinkAdd(br); err != nil {
			return fmt.Errorf("add bridge %s in %s: %w", bridgeName, ns, err)
		}
		gw := gatewayAddr()
		ipn := &net.IPNet{IP: gw.Addr().AsSlice(), Mask: net.CIDRMask(gw.Bits(), 32)}
		if err := netlink.AddrAdd(br, &netlink.Addr{IPNet: ipn}); err != nil {
			return fmt.Errorf("add address %s to %s in %s: %w", gw, bridgeName, ns, err)
		}
		return linkUp(bridgeName)
	})
}

func linkUp(name string) error {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return fmt.Errorf("find link %s: %w", name, err)
	}
	if err := netlink.LinkSetUp(l); err != nil {
		return fmt.Errorf("set link %s up: %w", name, err)
	}
	return nil
}

func writeSysctl(path, value string) error {
	if err := os.WriteFile(path, []byte(value), 0o644); err != nil {
		return fmt.Errorf("set %s to %s: %w", path, value, err)
	}
	return nil
}

// createNode makes node i's namespace, joined to the fabric bridge by a veth: "n<i>" on
// the bridge, eth0 with the underlay address in the node.
func createNode(name string, i int, node string, addr netip.Prefix) error {
	ns := NodeNS(name, node)
	if err := netns.Create(ns); err != nil {
		return err
	}
	if err := wireUnderlay(name, ns, fmt.Sprintf("n%d", i), fmt.Sprintf("u%d", i), addr); err != nil {
		return err
	}
	return netns.Do(ns, func() error {
		l, err := netlink.LinkByName(underlayName)
		if err != nil {
			return fmt.Errorf("find link %s in %s: %w", underlayName, ns, err)
		}
		def := &netlink.Route{LinkIndex: l.Attrs().Index, Gw: gatewayAddr().Addr().AsSlice()}
		if err := netlink.RouteAdd(def); err != nil {
			return fmt.Errorf("add default route via %s in %s: %w", gatewayAddr().Addr(), ns, err)
		}
		for _, s := range []struct{ path, v string }{
			{"/proc/sys/net/ipv4/ip_forward", "1"},
			{"/proc/sys/net/ipv6/conf/all/forwarding", "1"},
		} {
			if err := writeSysctl(s.path, s.v); err != nil {
				return fmt.Errorf("node %s: %w", node, err)
			}
		}
		return nil
	})
}

// wireUnderlay joins namespace ns (already created) to the fabric bridge of lab labName
// by a veth pair: fabSide on the bridge, up; in ns the peer (named tmp until then)
// renamed to underlayName, holding addr, up, with lo up. It adds no routes and sets no
// sysctls: the caller decides whether ns forwards.
func wireUnderlay(labName, ns, fabSide, tmp string, addr netip.Prefix) error {
	h, err := netns.Handle(ns)
	if err != nil {
		return err
	}
	defer h.Close()
	err = netns.Do(FabricNS(labName), func() error {
		veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: fabSide}, PeerName: tmp, PeerNamespace: netlink.NsFd(int(h))}
		if err := netlink.LinkAdd(veth); err != nil {
			return fmt.Errorf("add veth %s in %s: %w", fabSide, FabricNS(labName), err)
		}
		br, err := netlink.LinkByName(bridgeName)
		if err != nil {
			return fmt.Errorf("find bridge %s: %w", bridgeName, err)
		}
		l, err := netlink.LinkByName(fabSide)
		if err != nil {
			return fmt.Errorf("find link %s: %w", fabSide, err)
		}
		if err := netlink.LinkSetMaster(l, br); err != nil {
			return fmt.Errorf("attach %s to %s: %w", fabSide, bridgeName, err)
		}
		if err := netlink.LinkSetUp(l); err != nil {
			return fmt.Errorf("set link %s up: %w", fabSide, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return netns.Do(ns, func() error {
		if err := linkUp("lo"); err != nil {
			return err
		}
		l, err := netlink.LinkByName(tmp)
		if err != nil {
			return fmt.Errorf("find link %s in %s: %w", tmp, ns, err)
		}
		if err := netlink.LinkSetName(l, underlayName); err != nil {
			return fmt.Errorf("rename %s to %s in %s: %w", tmp, underlayName, ns, err)
		}
		ipn := &net.IPNet{IP: addr.Addr().AsSlice(), Mask: net.CIDRMask(addr.Bits(), 32)}
		if err := netlink.AddrAdd(l, &netlink.Addr{IPNet: ipn}); err != nil {
			return fmt.Errorf("add address %s to %s in %s: %w", addr, underlayName, ns, err)
		}
		if err := netlink.LinkSetUp(l); err != nil {
			return fmt.Errorf("set %s up in %s: %w", underlayName, ns, err)
		}
		return nil
	})
}
