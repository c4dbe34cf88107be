package testnet

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/trellisnet/trellis/internal/netns"
)

// Gateway addresses a pod uses as next hop; the host answers for them (each
// host-side veth carries both addresses, so ARP and ND are answered).
var (
	GatewayV4 = netip.MustParseAddr("169.254.1.1")
	GatewayV6 = netip.MustParseAddr("fe80::1")
)

// Config shapes a topology.
type Config struct {
	// Pods is the number of pod namespaces.
	Pods int
	// IfPrefix starts every host-side veth name; it is the workload interface prefix the
	// dataplane dispatches on. Default "trl".
	IfPrefix string
}

// Net is a built topology.
type Net struct {
	// Tag is the random part shared by every name in this topology.
	Tag string
	// Host is the host namespace's name.
	Host string
	// Pods are the pod namespaces, in creation order.
	Pods []*Pod

	created []string // namespaces, in creation order
}

// Pod is one pod namespace.
type Pod struct {
	// NS is the pod namespace's name.
	NS string
	// HostIf is the host-side veth name (inside Host); the pod side is "eth0".
	HostIf string
	// IPv4 and IPv6 are the pod's addresses.
	IPv4 netip.Addr
	IPv6 netip.Addr
}

// New builds a topology with cfg and removes it in t.Cleanup. It skips the test when not
// running as root.
func New(t testing.TB, cfg Config) *Net {
	t.Helper()
	RequireRoot(t)
	n, err := Build(cfg)
	if n != nil {
		t.Cleanup(func() {
			if err := n.Close(); err != nil {
				t.Errorf("remove test topology: %v", err)
			}
		})
	}
	if err != nil {
		t.Fatalf("build test topology: %v", err)
	}
	return n
}

// RequireRoot skips t unless the process can administer network namespaces.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces, veths, nftables); run the kernel tests with sudo")
	}
}

// RandomTag returns 6 random hex characters for names.
func RandomTag() string {
	b := make([]byte, 3)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("read random bytes: %v", err))
	}
	return hex.EncodeToString(b)
}

// Build creates a topology. On error the partial topology is returned so the caller can
// Close it; New does this for tests.
func Build(cfg Config) (*Net, error) {
	if cfg.IfPrefix == "" {
		cfg.IfPrefix = "trl"
	}
	if cfg.Pods < 0 || cfg.Pods > 200 {
		return nil, fmt.Errorf("build test topology: pods %d out of range 0..200", cfg.Pods)
	}
	tag := RandomTag()
	n := &Net{Tag: tag, Host: "trl-" + tag + "-host"}
	if err := n.addNS(n.Host); err != nil {
		return n, err
	}
	if err := hostSysctls(n.Host); err != nil {
		return n, err
	}
	for i := range cfg.Pods {
		p := &Pod{
			NS:     fmt.Sprintf("trl-%s-p%d", tag, i),
			HostIf: fmt.Sprintf("%sp%d", cfg.IfPrefix, i),
			IPv4:   netip.AddrFrom4([4]byte{10, 65, byte(i / 250), byte(i%250 + 2)}),
			IPv6:   netip.MustParseAddr(fmt.Sprintf("2001:db8:65::%x", i+2)),
		}
		if err := n.addNS(p.NS); err != nil {
			return n, err
		}
		if err := n.wirePod(p); err != nil {
			return n, err
		}
		n.Pods = append(n.Pods, p)
	}
	return n, nil
}

// Close removes every namespace of the topology (their veths go with them).
func (n *Net) Close() error {
	var errs []error
	for i := len(n.created) - 1; i >= 0; i-- {
		if err := netns.Delete(n.created[i]); err != nil {
			errs = append(errs, err)
		}
	}
	n.created = nil
	return errors.Join(errs...)
}

func (n *Net) addNS(name string) error {
	if err := netns.Create(name); err != nil {
		return err
	}
	n.created = append(n.created, name)
	return netns.Do(name, func() error {
		if err := writeSysctl("net/ipv6/conf/all/accept_dad", "0"); err != nil {
			return err
		}
		if err := writeSysctl("net/ipv6/conf/default/accept_dad", "0"); err != nil {
			return err
		}
		h, err := netlink.NewHandle()
		if err != nil {
			return fmt.Errorf("open netlink in %s: %w", name, err)
		}
		defer h.Close()
		lo, err := h.LinkByName("lo")
		if err != nil {
			return fmt.Errorf("find lo in %s: %w", name, err)
		}
		if err := h.LinkSetUp(lo); err != nil {
			return fmt.Errorf("set lo up in %s: %w", name, err)
		}
		return nil
	})
}

func hostSysctls(ns string) error {
	return netns.Do(ns, func() error {
		for _, k := range []string{"net/ipv4/ip_forward", "net/ipv6/conf/all/forwarding"} {
			if err := writeSysctl(k, "1"); err != nil {
				return err
			}
		}
		return nil
	})
}

func writeSysctl(key, value string) error {
	if err := os.WriteFile(filepath.Join("/proc/sys", key), []byte(value), 0o644); err != nil {
		return fmt.Errorf("set sysctl %s=%s: %w", key, value, err)
	}
	return nil
}

// handleIn opens a netlink handle bound to the named namespace.
func handleIn(ns string) (*netlink.Handle, error) {
	var h *netlink.Handle
	err := netns.Do(ns, func() error {
		var err error
		h, err = netlink.NewHandle()
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("open netlink in %s: %w", ns, err)
	}
	return h, nil
}

func (n *Net) wirePod(p *Pod) error {
	podFD, err := netns.Handle(p.NS)
	if err != nil {
		return err
	}
	defer podFD.Close()
	host, err := handleIn(n.Host)
	if err != nil {
		return err
	}
	defer host.Close()
	veth := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: p.HostIf},
		PeerName:      "eth0",
		PeerNamespace: netlink.NsFd(int(podFD)),
	}
	if err := host.LinkAdd(veth); err != nil {
		return fmt.Errorf("add veth %s in %s: %w", p.HostIf, n.Host, err)
	}
	if err := n.wireHostSide(host, p); err != nil {
		return err
	}
	return wirePodSide(p)
}

func (n *Net) wireHostSide(h *netlink.Handle, p *Pod) error {
	link, err := h.LinkByName(p.HostIf)
	if err != nil {
		return fmt.Errorf("find %s in %s: %w", p.HostIf, n.Host, err)
	}
	gws := []*netlink.Addr{
		{IPNet: prefixNet(netip.PrefixFrom(GatewayV4, 32)), Scope: int(netlink.SCOPE_LINK)},
		{IPNet: prefixNet(netip.PrefixFrom(GatewayV6, 64)), Flags: unix.IFA_F_NODAD},
	}
	for _, a := range gws {
		if err := h.AddrAdd(link, a); err != nil {
			return fmt.Errorf("add %s to %s: %w", a.IPNet, p.HostIf, err)
		}
	}
	if err := h.LinkSetUp(link); err != nil {
		return fmt.Errorf("set %s up: %w", p.HostIf, err)
	}
	for _, a := range []netip.Addr{p.IPv4, p.IPv6} {
		r := &netlink.Route{LinkIndex: link.Attrs().Index, Dst: prefixNet(netip.PrefixFrom(a, a.BitLen())), Scope: netlink.SCOPE_LINK}
		if err := h.RouteAdd(r); err != nil {
			return fmt.Errorf("add route %s dev %s: %w", a, p.HostIf, err)
		}
	}
	return nil
}

func wirePodSide(p *Pod) error {
	h, err := handleIn(p.NS)
	if err != nil {
		return err
	}
	defer h.Close()
	link, err := h.LinkByName("eth0")
	if err != nil {
		return fmt.Errorf("find eth0 in %s: %w", p.NS, err)
	}
	for _, a := range []netip.Addr{p.IPv4, p.IPv6} {
		addr := &netlink.Addr{IPNet: prefixNet(netip.PrefixFrom(a, a.BitLen())), Flags: unix.IFA_F_NODAD}
		if err := h.AddrAdd(link, addr); err != nil {
			return fmt.Errorf("add %s to eth0 in %s: %w", a, p.NS, err)
		}
	}
	if err := h.LinkSetUp(link); err != nil {
		return fmt.Errorf("set eth0 up in %s: %w", p.NS, err)
	}
	idx := link.Attrs().Index
	routes := []*netlink.Route{
		{LinkIndex: idx, Dst: prefixNet(netip.PrefixFrom(GatewayV4, 32)), Scope: netlink.SCOPE_LINK},
		{LinkIndex: idx, Dst: prefixNet(netip.MustParsePrefix("0.0.0.0/0")), Gw: net.IP(GatewayV4.AsSlice())},
		{LinkIndex: idx, Dst: prefixNet(netip.MustParsePrefix("::/0")), Gw: net.IP(GatewayV6.AsSlice())},
	}
	for _, r := range routes {
		if err := h.RouteAdd(r); err != nil {
			return fmt.Errorf("add route %s in %s: %w", r.Dst, p.NS, err)
		}
	}
	return nil
}

func prefixNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}
