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

// EnsureVXLAN creates the VTEP device described by v or corrects an existing one: a device
// with another VNI, port or source address (attributes Linux cannot change) is recreated;
// MAC and MTU are set in place. The device carries exactly v.Addr/32 and is up. The
// underlay device is the one holding v.Underlay. mtu 0 leaves the kernel's default.
func (m *Manager) EnsureVXLAN(v route.VTEP, mtu int) error {
	mac, err := net.ParseMAC(v.MAC)
	if err != nil {
		return fmt.Errorf("ensure vxlan device %s: %w", v.Device, err)
	}
	parent, err := m.linkWithAddr(v.Underlay)
	if err != nil {
		return fmt.Errorf("ensure vxlan device %s: %w", v.Device, err)
	}
	want := &netlink.Vxlan{
		LinkAttrs: netlink.LinkAttrs{Name: v.Device, HardwareAddr: mac, MTU: mtu},
		VxlanId:   v.VNI, VtepDevIndex: parent, SrcAddr: addrIP(v.Underlay), Port: v.Port,
	}
	l, err := m.h.LinkByName(v.Device)
	var notFound netlink.LinkNotFoundError
	switch {
	case errors.As(err, &notFound):
		l = nil
	case err != nil:
		return fmt.Errorf("ensure vxlan device %s: %w", v.Device, err)
	}
	if cur, ok := l.(*netlink.Vxlan); l != nil && (!ok || cur.VxlanId != v.VNI || cur.Port != v.Port ||
		!cur.SrcAddr.Equal(want.SrcAddr) || cur.VtepDevIndex != parent || cur.Learning) {
		if err := m.h.LinkDel(l); err != nil {
			return fmt.Errorf("recreate vxlan device %s: delete: %w", v.Device, err)
		}
		l = nil
	}
	if l == nil {
		if err := m.h.LinkAdd(want); err != nil {
			return fmt.Errorf("create vxlan device %s: %w", v.Device, err)
		}
		if l, err = m.h.LinkByName(v.Device); err != nil {
			return fmt.Errorf("create vxlan device %s: %w", v.Device, err)
		}
	}
	if l.Attrs().HardwareAddr.String() != mac.String() {
		if err := m.h.LinkSetHardwareAddr(l, mac); err != nil {
			return fmt.Errorf("set mac %s on %s: %w", mac, v.Device, err)
		}
	}
	if mtu != 0 && l.Attrs().MTU != mtu {
		if err := m.h.LinkSetMTU(l, mtu); err != nil {
			return fmt.Errorf("set mtu %d on %s: %w", mtu, v.Device, err)
		}
	}
	if err := m.syncAddr(l, v.Addr); err != nil {
		return err
	}
	if err := m.h.LinkSetUp(l); err != nil {
		return fmt.Errorf("set %s up: %w", v.Device, err)
	}
	return nil
}

// DeleteVXLAN removes the named device if it exists and is a VXLAN device.
func (m *Manager) DeleteVXLAN(name string) error {
	l, err := m.h.LinkByName(name)
	var notFound netlink.LinkNotFoundError
	if errors.As(err, &notFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("delete vxlan device %s: %w", name, err)
	}
	if _, ok := l.(*netlink.Vxlan); !ok {
		return fmt.Errorf("delete vxlan device %s: it is a %s device, not vxlan", name, l.Type())
	}
	if err := m.h.LinkDel(l); err != nil {
		return fmt.Errorf("delete vxlan device %s: %w", name, err)
	}
	return nil
}

func (m *Manager) linkWithAddr(a netip.Addr) (int, error) {
	addrs, err := m.h.AddrList(nil, netlink.FAMILY_ALL)
	if err != nil {
		return 0, fmt.Errorf("list addresses: %w", err)
	}
	for _, x := range addrs {
		if ipAddr(x.IP) == a {
			return x.LinkIndex, nil
		}
	}
	return 0, fmt.Errorf("no device has underlay address %s", a)
}

// syncAddr leaves exactly a/32 (or /128) on the device.
func (m *Manager) syncAddr(l netlink.Link, a netip.Addr) error {
	have, err := m.h.AddrList(l, netlink.FAMILY_ALL)
	if err != nil {
		return fmt.Errorf("list addresses of %s: %w", l.Attrs().Name, err)
	}
	want := netip.PrefixFrom(a, a.BitLen())
	found := false
	for _, x := range have {
		p := netPrefix(x.IPNet)
		if p == want {
			found = true
			continue
		}
		if p.Addr().IsLinkLocalUnicast() {
			continue
		}
		if err := m.h.AddrDel(l, &x); err != nil {
			return fmt.Errorf("delete address %s from %s: %w", p, l.Attrs().Name, err)
		}
	}
	if !found && a.IsValid() {
		if err := m.h.AddrAdd(l, &netlink.Addr{IPNet: prefixNet(want)}); err != nil {
			return fmt.Errorf("add address %s to %s: %w", want, l.Attrs().Name, err)
		}
	}
	return nil
}

// SyncFDB makes the permanent FDB entries of the device named dev equal want (entries for
// other devices in want are an error).
func (m *Manager) SyncFDB(dev string, want []route.FDBEntry) (Changes, error) {
	l, err := m.h.LinkByName(dev)
	if err != nil {
		return Changes{}, fmt.Errorf("sync fdb of %s: %w", dev, err)
	}
	cur, err := m.h.NeighList(l.Attrs().Index, unix.AF_BRIDGE)
	if err != nil {
		return Changes{}, fmt.Errorf("list fdb of %s: %w", dev, err)
	}
	type key struct {
		mac string
		dst netip.Addr
	}
	have := map[key]netlink.Neigh{}
	for _, n := range cur {
		if n.State&netlink.NUD_PERMANENT != 0 && n.HardwareAddr != nil {
			have[key{n.HardwareAddr.String(), ipAddr(n.IP)}] = n
		}
	}
	var ch Changes
	var errs []error
	wanted := map[key]bool{}
	for _, e := range want {
		if e.Dev != dev {
			errs = append(errs, fmt.Errorf("fdb entry %s is for device %s, not %s", e, e.Dev, dev))
			continue
		}
		mac, err := net.ParseMAC(e.MAC)
		if err != nil {
			errs = append(errs, fmt.Errorf("add %s: %w", e, err))
			continue
		}
		k := key{mac.String(), e.Dst}
		wanted[k] = true
		if _, ok := have[k]; ok {
			continue
		}
		n := &netlink.Neigh{LinkIndex: l.Attrs().Index, Family: unix.AF_BRIDGE, State: netlink.NUD_PERMANENT,
			Flags: netlink.NTF_SELF, IP: addrIP(e.Dst), HardwareAddr: mac}
		if err := m.h.NeighSet(n); err != nil {
			errs = append(errs, fmt.Errorf("add %s: %w", e, err))
			continue
		}
		ch.Added++
	}
	for k, n := range have {
		if wanted[k] {
			continue
		}
		if err := m.h.NeighDel(&n); err != nil {
			errs = append(errs, fmt.Errorf("delete fdb %s dst %s dev %s: %w", k.mac, k.dst, dev, err))
			continue
		}
		ch.Deleted++
	}
	return ch, errors.Join(errs...)
}

// SyncNeighbors makes the permanent IPv4 and IPv6 neighbour entries of the device named
// dev equal want.
func (m *Manager) SyncNeighbors(dev string, want []route.Neighbor) (Changes, error) {
	l, err := m.h.LinkByName(dev)
	if err != nil {
		return Changes{}, fmt.Errorf("sync neighbours of %s: %w", dev, err)
	}
	cur, err := m.h.NeighList(l.Attrs().Index, netlink.FAMILY_ALL)
	if err != nil {
		return Changes{}, fmt.Errorf("list neighbours of %s: %w", dev, err)
	}
	have := map[netip.Addr]netlink.Neigh{}
	for _, n := range cur {
		if (n.Family == unix.AF_INET || n.Family == unix.AF_INET6) && n.State&netlink.NUD_PERMANENT != 0 {
			have[ipAddr(n.IP)] = n
		}
	}
	var ch Changes
	var errs []error
	wanted := map[netip.Addr]bool{}
	for _, e := range want {
		if e.Dev != dev {
			errs = append(errs, fmt.Errorf("neighbour %s is for device %s, not %s", e, e.Dev, dev))
			continue
		}
		mac, err := net.ParseMAC(e.MAC)
		if err != nil {
			errs = append(errs, fmt.Errorf("set %s: %w", e, err))
			continue
		}
		wanted[e.Addr] = true
		if n, ok := have[e.Addr]; ok && n.HardwareAddr.String() == mac.String() {
			continue
		}
		fam := unix.AF_INET
		if e.Addr.Is6() {
			fam = unix.AF_INET6
		}
		n := &netlink.Neigh{LinkIndex: l.Attrs().Index, Family: fam, State: netlink.NUD_PERMANENT,
			IP: addrIP(e.Addr), HardwareAddr: mac}
		if err := m.h.NeighSet(n); err != nil {
			errs = append(errs, fmt.Errorf("set %s: %w", e, err))
			continue
		}
		ch.Added++
	}
	for a, n := range have {
		if wanted[a] {
			continue
		}
		if err := m.h.NeighDel(&n); err != nil {
			errs = append(errs, fmt.Errorf("delete neighbour %s dev %s: %w", a, dev, err))
			continue
		}
		ch.Deleted++
	}
	return ch, errors.Join(errs...)
}
