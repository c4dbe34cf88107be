package link

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/trellisnet/trellis/internal/route"
)

// Manager programs routes, the VXLAN device and its entries through one netlink handle.
type Manager struct {
	h *netlink.Handle
}

// New returns a Manager over h, a netlink handle opened in the target namespace (for
// example inside internal/netns.Do). It does no I/O.
func New(h *netlink.Handle) *Manager { return &Manager{h: h} }

// Routes lists the routes of protocol Protocol in the main table, both families.
func (m *Manager) Routes() ([]route.Route, error) {
	filter := &netlink.Route{Protocol: Protocol, Table: unix.RT_TABLE_MAIN}
	nl, err := m.h.RouteListFiltered(netlink.FAMILY_ALL, filter, netlink.RT_FILTER_PROTOCOL|netlink.RT_FILTER_TABLE)
	if err != nil {
		return nil, fmt.Errorf("list routes of protocol %d: %w", Protocol, err)
	}
	names := map[int]string{}
	out := make([]route.Route, 0, len(nl))
	for _, r := range nl {
		out = append(out, m.fromNetlink(r, names))
	}
	return out, nil
}

// SyncRoutes makes the routes of our protocol in the main table equal desired: missing
// ones are added, changed ones replaced, extra ones deleted. It goes on after a failed
// route and returns every error joined.
func (m *Manager) SyncRoutes(desired []route.Route) (Changes, error) {
	current, err := m.Routes()
	if err != nil {
		return Changes{}, err
	}
	plan := DiffRoutes(desired, current)
	var ch Changes
	var errs []error
	for _, r := range plan.Add {
		if err := m.write(r, false); err != nil {
			errs = append(errs, err)
			continue
		}
		ch.Added++
	}
	for _, r := range plan.Replace {
		if err := m.write(r, true); err != nil {
			errs = append(errs, err)
			continue
		}
		ch.Replaced++
	}
	for _, r := range plan.Delete {
		nr := &netlink.Route{Dst: prefixNet(r.Dst), Table: unix.RT_TABLE_MAIN, Protocol: Protocol}
		if r.Blackhole {
			nr.Type = unix.RTN_BLACKHOLE
		}
		if err := m.h.RouteDel(nr); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("delete route %s: %w", r, err))
			continue
		}
		ch.Deleted++
	}
	return ch, errors.Join(errs...)
}

func (m *Manager) write(r route.Route, replace bool) error {
	nr, err := m.toNetlink(r)
	if err == nil {
		if replace {
			err = m.h.RouteReplace(nr)
		} else {
			err = m.h.RouteAdd(nr)
		}
	}
	if err != nil {
		op := "add"
		if replace {
			op = "replace"
		}
		return fmt.Errorf("%s route %s: %w", op, r, err)
	}
	return nil
}

func (m *Manager) toNetlink(r route.Route) (*netlink.Route, error) {
	nr := &netlink.Route{Dst: prefixNet(r.Dst), Table: unix.RT_TABLE_MAIN, Protocol: Protocol}
	if r.Blackhole {
		nr.Type = unix.RTN_BLACKHOLE
		return nr, nil
	}
	switch len(r.NextHops) {
	case 0:
		return nil, errors.New("no next hop")
	case 1:
		h := r.NextHops[0]
		idx, err := m.linkIndex(h.Dev)
		if err != nil {
			return nil, err
		}
		nr.LinkIndex, nr.Gw = idx, addrIP(h.Via)
		if h.OnLink {
			nr.Flags = int(netlink.FLAG_ONLINK)
		}
		if !h.Via.IsValid() {
			nr.Scope = netlink.SCOPE_LINK
		}
		return nr, nil
	}
	for _, h := range r.NextHops {
		idx, err := m.linkIndex(h.Dev)
		if err != nil {
			return nil, err
		}
		nh := &netlink.NexthopInfo{LinkIndex: idx, Gw: addrIP(h.Via)}
		if h.OnLink {
			nh.Flags = int(netlink.FLAG_ONLINK)
		}
		nr.MultiPath = append(nr.MultiPath, nh)
	}
	return nr, nil
}

func (m *Manager) linkIndex(dev string) (int, error) {
	if dev == "" {
		return 0, nil
	}
	l, err := m.h.LinkByName(dev)
	if err != nil {
		return 0, fmt.Errorf("find device %s: %w", dev, err)
	}
	return l.Attrs().Index, nil
}

func (m *Manager) linkName(idx int, cache map[int]string) string {
	if idx == 0 {
		return ""
	}
	if n, ok := cache[idx]; ok {
		return n
	}
	n := ""
	if l, err := m.h.LinkByIndex(idx); err == nil {
		n = l.Attrs().Name
	}
	cache[idx] = n
	return n
}

func (m *Manager) fromNetlink(r netlink.Route, names map[int]string) route.Route {
	out := route.Route{}
	if r.Dst != nil {
		out.Dst = netPrefix(r.Dst)
	} else if r.Family == unix.AF_INET6 {
		out.Dst = netip.MustParsePrefix("::/0")
	} else {
		out.Dst = netip.MustParsePrefix("0.0.0.0/0")
	}
	if r.Type == unix.RTN_BLACKHOLE {
		out.Blackhole = true
		return out
	}
	if len(r.MultiPath) == 0 {
		out.NextHops = []route.NextHop{{Via: ipAddr(r.Gw), Dev: m.linkName(r.LinkIndex, names),
			OnLink: r.Flags&int(netlink.FLAG_ONLINK) != 0}}
		return out
	}
	for _, h := range r.MultiPath {
		out.NextHops = append(out.NextHops, route.NextHop{Via: ipAddr(h.Gw), Dev: m.linkName(h.LinkIndex, names),
			OnLink: h.Flags&int(netlink.FLAG_ONLINK) != 0})
	}
	return out
}

func prefixNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

func netPrefix(n *net.IPNet) netip.Prefix {
	a, _ := netip.AddrFromSlice(n.IP)
	ones, _ := n.Mask.Size()
	return netip.PrefixFrom(a.Unmap(), ones)
}

func addrIP(a netip.Addr) net.IP {
	if !a.IsValid() {
		return nil
	}
	return net.IP(a.AsSlice())
}

func ipAddr(ip net.IP) netip.Addr {
	if ip == nil {
		return netip.Addr{}
	}
	a, _ := netip.AddrFromSlice(ip)
	return a.Unmap()
}
