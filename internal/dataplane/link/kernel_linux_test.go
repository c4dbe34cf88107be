package link

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/netns"
	"github.com/trellisnet/trellis/internal/route"
	"github.com/trellisnet/trellis/internal/testnet"
)

var (
	pfx  = netip.MustParsePrefix
	addr = netip.MustParseAddr
)

// newNS creates a namespace named trl-lk-TAG-SUFFIX with lo up, removed in t.Cleanup.
func newNS(t *testing.T, tag, suffix string) string {
	t.Helper()
	name := fmt.Sprintf("trl-lk-%s-%s", tag, suffix)
	if err := netns.Create(name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := netns.Delete(name); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	h := handleIn(t, name)
	lo, err := h.LinkByName("lo")
	if err == nil {
		err = h.LinkSetUp(lo)
	}
	if err != nil {
		t.Fatalf("set lo up in %s: %v", name, err)
	}
	return name
}

// handleIn opens a netlink handle bound to ns, closed in t.Cleanup.
func handleIn(t *testing.T, ns string) *netlink.Handle {
	t.Helper()
	var h *netlink.Handle
	err := netns.Do(ns, func() (err error) {
		h, err = netlink.NewHandle()
		return err
	})
	if err != nil {
		t.Fatalf("open netlink in %s: %v", ns, err)
	}
	t.Cleanup(h.Close)
	return h
}

// ipIn runs the ip tool inside ns and returns its output.
func ipIn(t *testing.T, ns string, args ...string) string {
	t.Helper()
	var out []byte
	err := netns.Do(ns, func() (err error) {
		out, err = exec.Command("ip", args...).CombinedOutput()
		return err
	})
	if err != nil {
		t.Fatalf("ip %s in %s: %v: %s", strings.Join(args, " "), ns, err, out)
	}
	return string(out)
}

// addVeth adds a veth pair NAME/NAMEp inside the handle's namespace (this machine has no
// dummy driver), puts addrs on NAME and sets both ends up.
func addVeth(t *testing.T, h *netlink.Handle, name string, addrs ...string) netlink.Link {
	t.Helper()
	if err := h.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: name}, PeerName: name + "p"}); err != nil {
		t.Fatalf("add veth %s: %v", name, err)
	}
	l, err := h.LinkByName(name)
	if err != nil {
		t.Fatal(err)
	}
	peer, err := h.LinkByName(name + "p")
	if err == nil {
		err = h.LinkSetUp(peer)
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if err := h.AddrAdd(l, &netlink.Addr{IPNet: prefixNet(pfx(a)), Flags: unix.IFA_F_NODAD}); err != nil {
			t.Fatalf("add %s to %s: %v", a, name, err)
		}
	}
	if err := h.LinkSetUp(l); err != nil {
		t.Fatal(err)
	}
	return l
}

func TestSyncRoutesKernel(t *testing.T) {
	testnet.RequireRoot(t)
	tag := testnet.RandomTag()
	ns := newNS(t, tag, "r")
	h := handleIn(t, ns)
	dummy := addVeth(t, h, "trl0", "192.0.2.1/24", "2001:db8::1/64")
	// Routes of other owners that must survive every sync.
	foreign := []*netlink.Route{
		{Dst: prefixNet(pfx("10.9.0.0/24")), Gw: net.ParseIP("192.0.2.2"), Protocol: unix.RTPROT_STATIC},
		{Dst: prefixNet(pfx("10.244.9.0/26")), Gw: net.ParseIP("192.0.2.5"), Protocol: unix.RTPROT_STATIC},
	}
	for _, r := range foreign {
		if err := h.RouteAdd(r); err != nil {
			t.Fatalf("add foreign route %s: %v", r.Dst, err)
		}
	}
	m := New(h)
	desired := []route.Route{
		{Dst: pfx("10.244.0.0/26"), Blackhole: true},
		route.Learned(pfx("10.244.1.0/26"), []netip.Addr{addr("192.0.2.2")}),
		route.Learned(pfx("10.244.2.0/26"), []netip.Addr{addr("192.0.2.2"), addr("192.0.2.3")}),
		{Dst: pfx("10.244.3.0/26"), NextHops: []route.NextHop{{Via: addr("203.0.113.9"), Dev: "trl0", OnLink: true}}},
		{Dst: pfx("2001:db8:1::/122"), Blackhole: true},
		route.Learned(pfx("2001:db8:2::/122"), []netip.Addr{addr("2001:db8::2")}),
	}
	sync := func(step string, want []route.Route, wantCh Changes) {
		t.Helper()
		ch, err := m.SyncRoutes(want)
		if err != nil {
			t.Fatalf("%s: sync: %v", step, err)
		}
		if ch != wantCh {
			t.Errorf("%s: changes = %+v, want %+v", step, ch, wantCh)
		}
		got, err := m.Routes()
		if err != nil {
			t.Fatal(err)
		}
		if p := DiffRoutes(want, got); !p.Empty() {
			t.Errorf("%s: kernel differs from desired: %+v", step, p)
		}
	}
	sync("initial", desired, Changes{Added: 6})
	out := ipIn(t, ns, "route", "show", "proto", "201")
	for _, line := range []string{"blackhole 10.244.0.0/26", "10.244.1.0/26 via 192.0.2.2 dev trl0",
		"10.244.3.0/26 via 203.0.113.9 dev trl0 onlink", "nexthop via 192.0.2.3 dev trl0"} {
		if !strings.Contains(out, line) {
			t.Errorf("ip route show proto 201 lacks %q:\n%s", line, out)
		}
	}
	sync("idempotent", desired, Changes{})

	// Drift behind our back: one route deleted, one changed.
	if err := h.RouteDel(&netlink.Route{Dst: prefixNet(pfx("10.244.1.0/26")), Protocol: Protocol}); err != nil {
		t.Fatal(err)
	}
	if err := h.RouteReplace(&netlink.Route{Dst: prefixNet(pfx("10.244.3.0/26")), Gw: net.ParseIP("192.0.2.7"),
		LinkIndex: dummy.Attrs().Index, Protocol: Protocol}); err != nil {
		t.Fatal(err)
	}
	sync("drift repaired", desired, Changes{Added: 1, Replaced: 1})

	// A destination owned by another protocol is not overwritten.
	conflict := append(desired[1:], route.Learned(pfx("10.244.9.0/26"), []netip.Addr{addr("192.0.2.2")}))
	if _, err := m.SyncRoutes(conflict); !errors.Is(err, unix.EEXIST) {
		t.Errorf("sync over a foreign route: err = %v, want EEXIST", err)
	}
	if out := ipIn(t, ns, "route", "show", "10.244.9.0/26"); !strings.Contains(out, "via 192.0.2.5") {
		t.Errorf("foreign route 10.244.9.0/26 was changed: %q", out)
	}
	sync("removal", desired[1:], Changes{})
	sync("all removed", nil, Changes{Deleted: 5})
	for _, r := range foreign {
		got, err := h.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Dst: r.Dst, Table: unix.RT_TABLE_MAIN},
			netlink.RT_FILTER_DST|netlink.RT_FILTER_TABLE)
		if err != nil || len(got) != 1 || !got[0].Gw.Equal(r.Gw) {
			t.Errorf("foreign route %s: got %v, %v; want it untouched", r.Dst, got, err)
		}
	}
}

// vxlanNodes builds two node namespaces joined by a veth (192.0.2.1 and 192.0.2.2), each
// with a "pod" address on lo, and returns the routing input for them.
func vxlanNodes(t *testing.T, mode model.EncapMode) (nsA, nsB string, in route.Input) {
	t.Helper()
	tag := testnet.RandomTag()
	nsA, nsB = newNS(t, tag, "a"), newNS(t, tag, "b")
	ha, hb := handleIn(t, nsA), handleIn(t, nsB)
	bFD, err := netns.Handle(nsB)
	if err != nil {
		t.Fatal(err)
	}
	defer bFD.Close()
	if err := ha.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "trlu0"}, PeerName: "trlu1",
		PeerNamespace: netlink.NsFd(int(bFD))}); err != nil {
		t.Fatalf("add veth: %v", err)
	}
	for _, x := range []struct {
		h        *netlink.Handle
		dev, cid string
		pod      string
	}{{ha, "trlu0", "192.0.2.1/24", "10.244.0.5/32"}, {hb, "trlu1", "192.0.2.2/24", "10.244.1.5/32"}} {
		l, err := x.h.LinkByName(x.dev)
		if err != nil {
			t.Fatal(err)
		}
		if err := x.h.AddrAdd(l, &netlink.Addr{IPNet: prefixNet(pfx(x.cid))}); err != nil {
			t.Fatal(err)
		}
		if err := x.h.LinkSetUp(l); err != nil {
			t.Fatal(err)
		}
		lo, err := x.h.LinkByName("lo")
		if err != nil {
			t.Fatal(err)
		}
		if err := x.h.AddrAdd(lo, &netlink.Addr{IPNet: prefixNet(pfx(x.pod))}); err != nil {
			t.Fatal(err)
		}
	}
	node := func(name, ip, tunnel, mac string) *model.Node {
		n := &model.Node{}
		n.Name = name
		n.Spec.BGP = &model.NodeBGPSpec{IPv4Address: ip}
		n.Spec.IPv4VXLANTunnelAddr, n.Spec.VXLANTunnelMACAddr = tunnel, mac
		return n
	}
	pool := &model.IPPool{Spec: model.IPPoolSpec{CIDR: "10.244.0.0/16", VXLANMode: mode}}
	pool.Name = "pods"
	in = route.Input{
		Nodes: []*model.Node{node("a", "192.0.2.1/24", "10.244.0.1", "66:00:00:00:00:0a"),
			node("b", "192.0.2.2/24", "10.244.1.1", "66:00:00:00:00:0b")},
		Pools:  []*model.IPPool{pool},
		Blocks: []route.Block{{CIDR: pfx("10.244.0.0/26"), Node: "a"}, {CIDR: pfx("10.244.1.0/26"), Node: "b"}},
	}
	return nsA, nsB, in
}

// program applies a node's calculated overlay state in ns.
func program(t *testing.T, ns string, n route.Node) *Manager {
	t.Helper()
	m := New(handleIn(t, ns))
	if n.VTEP == nil {
		t.Fatalf("node %s has no VTEP", n.Name)
	}
	if err := m.EnsureVXLAN(*n.VTEP, route.PodMTU(1500)); err != nil {
		t.Fatal(err)
	}
	if _, err := m.SyncFDB(n.VTEP.Device, n.FDB); err != nil {
		t.Fatal(err)
	}
	if _, err := m.SyncNeighbors(n.VTEP.Device, n.Neighbors); err != nil {
		t.Fatal(err)
	}
	if _, err := m.SyncRoutes(n.Routes); err != nil {
		t.Fatal(err)
	}
	return m
}

// exchange connects from src (bound to from) to dst:port in dstNS and echoes a message.
func exchange(t *testing.T, srcNS, dstNS string, from, to netip.Addr) error {
	t.Helper()
	var ln net.Listener
	if err := netns.Do(dstNS, func() (err error) {
		ln, err = net.Listen("tcp", netip.AddrPortFrom(to, 0).String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = io.CopyN(c, c, 5)
	}()
	var c net.Conn
	err := netns.Do(srcNS, func() (err error) {
		d := net.Dialer{Timeout: 3 * time.Second, LocalAddr: &net.TCPAddr{IP: net.IP(from.AsSlice())}}
		c, err = d.Dial("tcp", ln.Addr().String())
		return err
	})
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := c.Write([]byte("hello")); err != nil {
		return err
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(c, buf); err != nil {
		return err
	}
	if !bytes.Equal(buf, []byte("hello")) {
		return fmt.Errorf("echo %q, want hello", buf)
	}
	return nil
}

func txPackets(t *testing.T, ns, dev string) uint64 {
	t.Helper()
	l, err := handleIn(t, ns).LinkByName(dev)
	if err != nil {
		t.Fatal(err)
	}
	return l.Attrs().Statistics.TxPackets
}

func TestVXLANPackets(t *testing.T) {
	testnet.RequireRoot(t)
	nsA, nsB, in := vxlanNodes(t, model.EncapAlways)
	res := route.Compute(in)
	na, _ := res.Find("a")
	nb, _ := res.Find("b")
	ma := program(t, nsA, na)
	program(t, nsB, nb)

	l, err := handleIn(t, nsA).LinkByName(route.VXLANDevice)
	if err != nil {
		t.Fatal(err)
	}
	vx, ok := l.(*netlink.Vxlan)
	if !ok || vx.VxlanId != route.VXLANVNI || vx.Port != route.VXLANPort || vx.MTU != 1450 ||
		vx.HardwareAddr.String() != "66:00:00:00:00:0a" || !vx.SrcAddr.Equal(net.ParseIP("192.0.2.1")) {
		t.Errorf("vxlan device = %+v, want vni 4096 port 4789 mtu 1450 mac 66:00:00:00:00:0a src 192.0.2.1", l)
	}
	if out := ipIn(t, nsA, "neigh", "show", "dev", route.VXLANDevice); !strings.Contains(out, "10.244.1.1 lladdr 66:00:00:00:00:0b PERMANENT") {
		t.Errorf("neighbour missing: %q", out)
	}
	if out := ipIn(t, nsA, "route", "show", "proto", "201"); !strings.Contains(out, "10.244.1.0/26 via 10.244.1.1 dev trellis.vxlan onlink") {
		t.Errorf("overlay route missing: %q", out)
	}
	before := txPackets(t, nsA, route.VXLANDevice)
	if err := exchange(t, nsA, nsB, addr("10.244.0.5"), addr("10.244.1.5")); err != nil {
		t.Fatalf("pod a -> pod b over vxlan: %v", err)
	}
	if err := exchange(t, nsB, nsA, addr("10.244.1.5"), addr("10.244.0.5")); err != nil {
		t.Fatalf("pod b -> pod a over vxlan: %v", err)
	}
	if after := txPackets(t, nsA, route.VXLANDevice); after <= before {
		t.Errorf("vxlan device sent no packets (%d -> %d): traffic did not use the overlay", before, after)
	}

	// Drift: FDB entry and neighbour removed behind our back are restored by a sync.
	ipIn(t, nsA, "neigh", "del", "10.244.1.1", "dev", route.VXLANDevice)
	ch, err := ma.SyncNeighbors(route.VXLANDevice, na.Neighbors)
	if err != nil || ch.Added != 1 {
		t.Errorf("neighbour resync: %+v, %v; want 1 added", ch, err)
	}
	ch, err = ma.SyncFDB(route.VXLANDevice, nil)
	if err != nil || ch.Deleted != 1 {
		t.Errorf("fdb removal: %+v, %v; want 1 deleted", ch, err)
	}
	if err := exchange(t, nsA, nsB, addr("10.244.0.5"), addr("10.244.1.5")); err == nil {
		t.Errorf("pod a reached pod b without an FDB entry")
	}
	if _, err := ma.SyncFDB(route.VXLANDevice, na.FDB); err != nil {
		t.Fatal(err)
	}
	if err := exchange(t, nsA, nsB, addr("10.244.0.5"), addr("10.244.1.5")); err != nil {
		t.Errorf("after fdb resync: %v", err)
	}

	// Re-ensuring with another VNI recreates the device; the same config changes nothing.
	v := *na.VTEP
	idx := l.Attrs().Index
	if err := ma.EnsureVXLAN(v, 1450); err != nil {
		t.Fatal(err)
	}
	if l2, _ := handleIn(t, nsA).LinkByName(route.VXLANDevice); l2.Attrs().Index != idx {
		t.Errorf("unchanged config recreated the device")
	}
	v.VNI = 4097
	if err := ma.EnsureVXLAN(v, 1450); err != nil {
		t.Fatal(err)
	}
	if l2, _ := handleIn(t, nsA).LinkByName(route.VXLANDevice); l2.(*netlink.Vxlan).VxlanId != 4097 {
		t.Errorf("VNI not changed: %+v", l2)
	}
	if err := ma.DeleteVXLAN(route.VXLANDevice); err != nil {
		t.Fatal(err)
	}
	if err := ma.DeleteVXLAN("trlu0"); err == nil {
		t.Errorf("DeleteVXLAN removed a veth device")
	}
}

func TestVXLANCrossSubnet(t *testing.T) {
	testnet.RequireRoot(t)
	nsA, nsB, in := vxlanNodes(t, model.EncapCrossSubnet)
	res := route.Compute(in)
	na, _ := res.Find("a")
	nb, _ := res.Find("b")
	want := []string{"blackhole 10.244.0.0/26", "10.244.1.0/26 via 192.0.2.2"}
	var got []string
	for _, r := range na.Routes {
		got = append(got, r.String())
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("same-subnet routes (-want +got):\n%s", diff)
	}
	program(t, nsA, na)
	program(t, nsB, nb)
	before := txPackets(t, nsA, route.VXLANDevice)
	if err := exchange(t, nsA, nsB, addr("10.244.0.5"), addr("10.244.1.5")); err != nil {
		t.Fatalf("pod a -> pod b in the same subnet: %v", err)
	}
	if after := txPackets(t, nsA, route.VXLANDevice); after != before {
		t.Errorf("same-subnet traffic was encapsulated (%d -> %d packets)", before, after)
	}
}
