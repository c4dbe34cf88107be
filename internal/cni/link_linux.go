package cni

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/trellisnet/trellis/internal/netns"
)

// Fixed addresses of the pod interface model.
var (
	hostMAC = net.HardwareAddr{0xee, 0xee, 0xee, 0xee, 0xee, 0xee}
	// Gateway4 is the pod's IPv4 default gateway, answered by proxy ARP on the host veth.
	Gateway4 = netip.MustParseAddr("169.254.1.1")
	// Gateway6 is the host veth's link-local address (EUI-64 of hostMAC), the pod's IPv6
	// default gateway.
	Gateway6 = netip.MustParseAddr("fe80::ecee:eeff:feee:eeee")
)

// podLink describes one pod interface.
type podLink struct {
	HostIf, ContIf string
	NetNS          string // path
	MTU            int
	Addrs          []netip.Prefix // /32 and /128
}

func has6(addrs []netip.Prefix) bool {
	for _, a := range addrs {
		if a.Addr().Is6() {
			return true
		}
	}
	return false
}

func has4(addrs []netip.Prefix) bool {
	for _, a := range addrs {
		if a.Addr().Is4() {
			return true
		}
	}
	return false
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// writeSysctl writes a /proc/sys value in the calling thread's namespace.
func writeSysctl(path, value string) error {
	if err := os.WriteFile(filepath.Join("/proc/sys", path), []byte(value), 0o644); err != nil {
		return fmt.Errorf("set sysctl %s=%s: %w", strings.ReplaceAll(path, "/", "."), value, err)
	}
	return nil
}

func readSysctl(path string) string {
	b, _ := os.ReadFile(filepath.Join("/proc/sys", path))
	return strings.TrimSpace(string(b))
}

// autoMTU is the MTU of the host's IPv4 default-route device, or 1500.
func autoMTU() int {
	routes, err := netlink.RouteList(nil, netlink.FAMILY_V4)
	if err == nil {
		for _, r := range routes {
			if r.Dst == nil || r.Dst.IP.IsUnspecified() {
				if l, err := netlink.LinkByIndex(r.LinkIndex); err == nil && l.Attrs().MTU > 0 {
					return l.Attrs().MTU
				}
			}
		}
	}
	return 1500
}

func openNS(path string) (vnetns.NsHandle, error) {
	h, err := vnetns.GetFromPath(path)
	if err != nil {
		return h, fmt.Errorf("open network namespace %s: %w", path, err)
	}
	return h, nil
}

// deleteVeth deletes a veth by name in the current namespace; absent is fine.
func deleteVeth(name string) error {
	l, err := netlink.LinkByName(name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil
		}
		return fmt.Errorf("find link %s: %w", name, err)
	}
	if l.Type() != "veth" {
		return fmt.Errorf("link %s exists and is a %s, not a veth: refusing to touch it", name, l.Type())
	}
	if err := netlink.LinkDel(l); err != nil && !errors.Is(err, unix.ENODEV) {
		return fmt.Errorf("delete link %s: %w", name, err)
	}
	return nil
}

// createPodLink (re)creates the veth pair: the part of the pod interface that does not
// depend on the addresses, so it runs while IPAM does. It returns the pod side's MAC
// address. The host side stays down until configurePodLink. On error the caller tears
// down by name.
func createPodLink(l podLink) (string, error) {
	nsh, err := openNS(l.NetNS)
	if err != nil {
		return "", err
	}
	defer nsh.Close()
	if err := deleteVeth(l.HostIf); err != nil {
		return "", err
	}
	if err := netns.DoHandle(nsh, func() error { return deleteVeth(l.ContIf) }); err != nil {
		return "", err
	}
	veth := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: l.HostIf, MTU: l.MTU, HardwareAddr: hostMAC},
		PeerName:      l.ContIf,
		PeerNamespace: netlink.NsFd(int(nsh)),
	}
	if err := netlink.LinkAdd(veth); err != nil {
		return "", fmt.Errorf("add veth %s (peer %s in %s): %w", l.HostIf, l.ContIf, l.NetNS, err)
	}
	name := l.HostIf
	for _, s := range [][2]string{
		{"net/ipv4/conf/" + name + "/proxy_arp", "1"},
		{"net/ipv4/conf/" + name + "/forwarding", "1"},
		{"net/ipv4/neigh/" + name + "/proxy_delay", "0"},
	} {
		if err := writeSysctl(s[0], s[1]); err != nil {
			return "", err
		}
	}
	var mac string
	err = netns.DoHandle(nsh, func() error {
		link, err := netlink.LinkByName(l.ContIf)
		if err != nil {
			return fmt.Errorf("find link %s in the pod: %w", l.ContIf, err)
		}
		mac = link.Attrs().HardwareAddr.String()
		return nil
	})
	return mac, err
}

// configurePodLink gives the pair created by createPodLink its addresses and routes and
// brings it up. On error the caller tears down by name.
func configurePodLink(l podLink) error {
	nsh, err := openNS(l.NetNS)
	if err != nil {
		return err
	}
	defer nsh.Close()
	host, err := netlink.LinkByName(l.HostIf)
	if err != nil {
		return fmt.Errorf("find link %s: %w", l.HostIf, err)
	}
	if err := configureHostSide(host, l); err != nil {
		return err
	}
	return netns.DoHandle(nsh, func() error { return configurePodSide(l) })
}

func configureHostSide(host netlink.Link, l podLink) error {
	name := l.HostIf
	if has6(l.Addrs) {
		for _, s := range [][2]string{
			{"net/ipv6/conf/" + name + "/disable_ipv6", "0"},
			{"net/ipv6/conf/" + name + "/accept_dad", "0"},
			{"net/ipv6/conf/" + name + "/forwarding", "1"},
		} {
			if err := writeSysctl(s[0], s[1]); err != nil {
				return err
			}
		}
	}
	if err := netlink.LinkSetUp(host); err != nil {
		return fmt.Errorf("set link %s up: %w", name, err)
	}
	if has6(l.Addrs) {
		ll := &netlink.Addr{IPNet: ipNet(netip.PrefixFrom(Gateway6, 64)), Flags: unix.IFA_F_NODAD}
		if err := netlink.AddrAdd(host, ll); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("add address %s to %s: %w", Gateway6, name, err)
		}
	}
	for _, a := range l.Addrs {
		r := &netlink.Route{LinkIndex: host.Attrs().Index, Dst: ipNet(a), Scope: netlink.SCOPE_LINK}
		if err := netlink.RouteReplace(r); err != nil {
			return fmt.Errorf("add route %s dev %s: %w", a, name, err)
		}
	}
	return nil
}

// configurePodSide runs inside the pod namespace.
func configurePodSide(l podLink) error {
	link, err := netlink.LinkByName(l.ContIf)
	if err != nil {
		return fmt.Errorf("find link %s in the pod: %w", l.ContIf, err)
	}
	if has6(l.Addrs) {
		for _, s := range [][2]string{{"net/ipv6/conf/" + l.ContIf + "/disable_ipv6", "0"}, {"net/ipv6/conf/" + l.ContIf + "/accept_dad", "0"}} {
			if err := writeSysctl(s[0], s[1]); err != nil {
				return err
			}
		}
	}
	for _, a := range l.Addrs {
		addr := &netlink.Addr{IPNet: ipNet(a)}
		if a.Addr().Is6() {
			addr.Flags = unix.IFA_F_NODAD
		}
		if err := netlink.AddrAdd(link, addr); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("add address %s to %s in the pod: %w", a, l.ContIf, err)
		}
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return fmt.Errorf("set link %s up in the pod: %w", l.ContIf, err)
	}
	idx := link.Attrs().Index
	var routes []*netlink.Route
	if has4(l.Addrs) {
		routes = append(routes,
			&netlink.Route{LinkIndex: idx, Dst: ipNet(netip.PrefixFrom(Gateway4, 32)), Scope: netlink.SCOPE_LINK},
			&netlink.Route{LinkIndex: idx, Dst: ipNet(netip.MustParsePrefix("0.0.0.0/0")), Gw: Gateway4.AsSlice()})
	}
	if has6(l.Addrs) {
		routes = append(routes, &netlink.Route{LinkIndex: idx, Dst: ipNet(netip.MustParsePrefix("::/0")), Gw: Gateway6.AsSlice()})
	}
	for _, r := range routes {
		if err := netlink.RouteReplace(r); err != nil {
			return fmt.Errorf("add route %s in the pod: %w", r.Dst, err)
		}
	}
	return nil
}

// teardownPodLink removes the pair through the pod side, in the sandbox's own namespace.
// Never by the host side's name: that name is derived from the pod's namespace and name,
// so once a pod is re-created under the same name (a StatefulSet's) it names the new
// sandbox's veth, and the runtime repeats the old sandbox's DEL late (StopPodSandbox again,
// RemovePodSandbox), which would cut the new pod off. A namespace that is gone took the
// pair with it; a missing pod side means the pair is someone else's or gone.
func teardownPodLink(contIf, nsPath string) error {
	if nsPath == "" {
		return nil
	}
	nsh, err := vnetns.GetFromPath(nsPath)
	if err != nil {
		return nil // the namespace is gone, and the pair with it
	}
	defer nsh.Close()
	return netns.DoHandle(nsh, func() error { return deleteVeth(contIf) })
}

// checkPodLink verifies both ends against the expected configuration.
func checkPodLink(l podLink) error {
	host, err := netlink.LinkByName(l.HostIf)
	if err != nil {
		return fmt.Errorf("check: host link %s: %w", l.HostIf, err)
	}
	if host.Attrs().HardwareAddr.String() != hostMAC.String() {
		return fmt.Errorf("check: host link %s has MAC %s, want %s", l.HostIf, host.Attrs().HardwareAddr, hostMAC)
	}
	if host.Attrs().Flags&net.FlagUp == 0 {
		return fmt.Errorf("check: host link %s is down", l.HostIf)
	}
	if v := readSysctl("net/ipv4/conf/" + l.HostIf + "/proxy_arp"); v != "1" {
		return fmt.Errorf("check: proxy_arp on %s is %q, want 1", l.HostIf, v)
	}
	for _, a := range l.Addrs {
		if !hasRoute(host.Attrs().Index, a, nil) {
			return fmt.Errorf("check: no route to %s via %s", a, l.HostIf)
		}
	}
	nsh, err := openNS(l.NetNS)
	if err != nil {
		return fmt.Errorf("check: %w", err)
	}
	defer nsh.Close()
	return netns.DoHandle(nsh, func() error {
		link, err := netlink.LinkByName(l.ContIf)
		if err != nil {
			return fmt.Errorf("check: pod link %s: %w", l.ContIf, err)
		}
		for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
			got, err := netlink.AddrList(link, fam)
			if err != nil {
				return fmt.Errorf("check: list addresses of %s: %w", l.ContIf, err)
			}
			for _, want := range l.Addrs {
				if (fam == netlink.FAMILY_V4) != want.Addr().Is4() {
					continue
				}
				found := false
				for _, a := range got {
					ones, _ := a.Mask.Size()
					if ap, ok := netip.AddrFromSlice(a.IP); ok && ap.Unmap() == want.Addr() && ones == want.Bits() {
						found = true
					}
				}
				if !found {
					return fmt.Errorf("check: address %s missing on %s in the pod", want, l.ContIf)
				}
			}
		}
		idx := link.Attrs().Index
		if has4(l.Addrs) && !hasRoute(idx, netip.MustParsePrefix("0.0.0.0/0"), &Gateway4) {
			return fmt.Errorf("check: pod has no default route via %s", Gateway4)
		}
		if has6(l.Addrs) && !hasRoute(idx, netip.MustParsePrefix("::/0"), &Gateway6) {
			return fmt.Errorf("check: pod has no IPv6 default route via %s", Gateway6)
		}
		return nil
	})
}

// hasRoute looks for a route to dst on link idx (with gateway gw if given) in the current
// namespace's main table.
func hasRoute(idx int, dst netip.Prefix, gw *netip.Addr) bool {
	fam := netlink.FAMILY_V4
	if dst.Addr().Is6() {
		fam = netlink.FAMILY_V6
	}
	routes, err := netlink.RouteListFiltered(fam, &netlink.Route{LinkIndex: idx}, netlink.RT_FILTER_OIF)
	if err != nil {
		return false
	}
	for _, r := range routes {
		var rd netip.Prefix
		if r.Dst == nil {
			rd = netip.PrefixFrom(netip.IPv6Unspecified(), 0)
			if fam == netlink.FAMILY_V4 {
				rd = netip.PrefixFrom(netip.IPv4Unspecified(), 0)
			}
		} else {
			a, _ := netip.AddrFromSlice(r.Dst.IP)
			ones, _ := r.Dst.Mask.Size()
			rd = netip.PrefixFrom(a.Unmap(), ones)
		}
		if rd != dst {
			continue
		}
		if gw == nil {
			return true
		}
		if g, ok := netip.AddrFromSlice(r.Gw); ok && g.Unmap() == *gw {
			return true
		}
	}
	return false
}
