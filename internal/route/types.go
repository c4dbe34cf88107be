package route

import (
	"fmt"
	"net/netip"
	"strings"
)

// VXLAN defaults (Calico's are VNI 4096 and UDP 4789).
const (
	// VXLANDevice is the VTEP device name (at most 15 bytes: Linux's IFNAMSIZ less the NUL).
	VXLANDevice = "trellis.vxlan"
	// VXLANVNI is the VXLAN network identifier of the overlay.
	VXLANVNI = 4096
	// VXLANPort is the UDP destination port of the overlay.
	VXLANPort = 4789
	// VXLANOverhead is what VXLAN encapsulation over IPv4 adds to a packet: outer IPv4 (20),
	// UDP (8), VXLAN (8) and inner Ethernet (14) headers.
	VXLANOverhead = 50
)

// Defaults of the BGP calculation.
const (
	DefaultASNumber       = 64512
	DefaultListenPort     = 179
	DefaultMaxRestartTime = 120 // seconds, graceful restart
)

// PodMTU is the MTU for pod interfaces (and the VTEP) over an underlay of MTU underlay
// when the overlay encapsulates.
func PodMTU(underlay int) int { return underlay - VXLANOverhead }

// Result is the routing intent of every node.
type Result struct {
	Nodes    []Node    // sorted by name
	Problems []Problem // sorted; input that was ignored (fail closed)
}

// Problem is input the calculation could not use.
type Problem struct {
	Object  string // "Kind/name"
	Message string
}

func (p Problem) String() string { return p.Object + ": " + p.Message }

// Node is one node's routing intent.
type Node struct {
	Name string
	// BGP is the speaker configuration; nil when BGP is off or the node has no IPv4 address.
	BGP *Speaker
	// Advertise are the prefixes the node announces over BGP, sorted.
	Advertise []netip.Prefix
	// Filters are the BGPFilter rules of the node's peers that have any, sorted by peer.
	Filters []PeerFilter
	// NoInstall are the service address ranges: routes learned for prefixes inside them
	// are never installed (each node's service proxy handles those addresses). Sorted.
	NoInstall []netip.Prefix
	// Routes are the kernel routes the calculation wants: blackholes for the node's own
	// blocks and, for the overlay, routes to remote blocks. Sorted by destination, one
	// route per destination.
	Routes []Route
	// VTEP is the local VXLAN tunnel endpoint; nil when the overlay is not in use.
	VTEP *VTEP
	// FDB and Neighbors are the overlay's forwarding and ARP entries, one per remote VTEP.
	FDB       []FDBEntry
	Neighbors []Neighbor
}

// Find returns the named node's intent.
func (r Result) Find(name string) (Node, bool) {
	for _, n := range r.Nodes {
		if n.Name == name {
			return n, true
		}
	}
	return Node{}, false
}

// Speaker is a node's BGP speaker configuration.
type Speaker struct {
	RouterID netip.Addr
	Address  netip.Addr   // the node's IPv4 address: listen and source address
	Subnet   netip.Prefix // the node's underlay subnet (from spec.bgp.ipv4Address)
	// Address6 and Subnet6 are from spec.bgp.ipv6Address: the IPv6 sessions' listen,
	// source and next-hop address; invalid when the node has none (no IPv6 sessions).
	Address6   netip.Addr
	Subnet6    netip.Prefix
	ASNumber   uint32
	ListenPort uint16
	// ClusterID is the route-reflector cluster ID; empty when the node is no reflector.
	ClusterID string
	Peers     []Peer // sorted by address
}

// Peer is one BGP session.
type Peer struct {
	Address  netip.Addr
	Port     uint16 // remote port; 0 means 179
	ASNumber uint32
	// Node is the peer's node name when the peer is a Trellis node.
	Node string
	// Source is what asked for the session: "mesh" or "bgppeer/NAME".
	Source string
	// RRClient marks the peer as a route-reflector client of this node.
	RRClient bool
	// Passive: wait for the peer to connect.
	Passive bool
	// KeepNextHop keeps the original next hop of routes sent to an eBGP peer.
	KeepNextHop bool
	// RestartTime is the graceful-restart time in seconds this node asks the peer to keep
	// its routes for while it restarts.
	RestartTime uint32
}

// Route is a kernel route in the main table. A blackhole has no next hops; more than one
// next hop is an ECMP route.
type Route struct {
	Dst       netip.Prefix
	Blackhole bool
	NextHops  []NextHop // sorted
}

// NextHop is one path of a route.
type NextHop struct {
	Via    netip.Addr // invalid: directly connected on Dev
	Dev    string     // empty: the kernel resolves the device from Via
	OnLink bool       // Via is reachable on Dev without a covering route
}

// VTEP is a node's VXLAN tunnel endpoint.
type VTEP struct {
	Device   string
	VNI      int
	Port     int
	MAC      string     // lower-case, colon separated
	Addr     netip.Addr // tunnel address (from IPAM), assigned to the device
	Underlay netip.Addr // local underlay address: the outer source
}

// FDBEntry sends frames for a remote VTEP's MAC to its underlay address.
type FDBEntry struct {
	Dev string
	MAC string
	Dst netip.Addr
}

// Neighbor resolves a remote tunnel address to its VTEP's MAC.
type Neighbor struct {
	Dev  string
	Addr netip.Addr
	MAC  string
}

func (h NextHop) String() string {
	var parts []string
	if h.Via.IsValid() {
		parts = append(parts, "via "+h.Via.String())
	}
	if h.Dev != "" {
		parts = append(parts, "dev "+h.Dev)
	}
	if h.OnLink {
		parts = append(parts, "onlink")
	}
	return strings.Join(parts, " ")
}

// String is "blackhole DST", "DST via X dev D onlink" or, for ECMP,
// "DST nexthop via X nexthop via Y" (ip-route syntax).
func (r Route) String() string {
	switch {
	case r.Blackhole:
		return "blackhole " + r.Dst.String()
	case len(r.NextHops) == 1:
		return r.Dst.String() + " " + r.NextHops[0].String()
	}
	var b strings.Builder
	b.WriteString(r.Dst.String())
	for _, h := range r.NextHops {
		b.WriteString(" nexthop " + h.String())
	}
	return b.String()
}

// Equal reports whether two routes are the same.
func (r Route) Equal(o Route) bool {
	if r.Dst != o.Dst || r.Blackhole != o.Blackhole || len(r.NextHops) != len(o.NextHops) {
		return false
	}
	for i := range r.NextHops {
		if r.NextHops[i] != o.NextHops[i] {
			return false
		}
	}
	return true
}

func (p Peer) String() string {
	s := fmt.Sprintf("peer %s", p.Address)
	if p.Port != 0 && p.Port != DefaultListenPort {
		s += fmt.Sprintf(" port %d", p.Port)
	}
	s += fmt.Sprintf(" as %d", p.ASNumber)
	if p.Node != "" {
		s += " node " + p.Node
	}
	s += " " + p.Source
	for _, f := range []struct {
		on   bool
		name string
	}{{p.RRClient, "rr-client"}, {p.Passive, "passive"}, {p.KeepNextHop, "keep-next-hop"}} {
		if f.on {
			s += " " + f.name
		}
	}
	return s + fmt.Sprintf(" restart-time %d", p.RestartTime)
}

func (v VTEP) String() string {
	return fmt.Sprintf("vtep %s vni %d port %d mac %s addr %s underlay %s",
		v.Device, v.VNI, v.Port, v.MAC, v.Addr, v.Underlay)
}

func (f FDBEntry) String() string { return fmt.Sprintf("fdb %s dst %s dev %s", f.MAC, f.Dst, f.Dev) }

func (n Neighbor) String() string {
	return fmt.Sprintf("neigh %s lladdr %s dev %s", n.Addr, n.MAC, n.Dev)
}

// String is the canonical text of a node's intent, one item a line.
func (n Node) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "node %s\n", n.Name)
	if s := n.BGP; s != nil {
		cid := s.ClusterID
		if cid == "" {
			cid = "-"
		}
		fmt.Fprintf(&b, "  bgp router-id %s address %s subnet %s as %d port %d cluster-id %s\n",
			s.RouterID, s.Address, s.Subnet, s.ASNumber, s.ListenPort, cid)
		if s.Address6.IsValid() {
			fmt.Fprintf(&b, "  bgp ipv6 address %s subnet %s\n", s.Address6, s.Subnet6)
		}
		for _, p := range s.Peers {
			fmt.Fprintf(&b, "    %s\n", p)
		}
	}
	for _, p := range n.Advertise {
		fmt.Fprintf(&b, "  advertise %s\n", p)
	}
	for _, f := range n.Filters {
		b.WriteString(f.String())
	}
	for _, p := range n.NoInstall {
		fmt.Fprintf(&b, "  no-install %s\n", p)
	}
	for _, r := range n.Routes {
		fmt.Fprintf(&b, "  route %s\n", r)
	}
	if n.VTEP != nil {
		fmt.Fprintf(&b, "  %s\n", n.VTEP)
	}
	for _, f := range n.FDB {
		fmt.Fprintf(&b, "  %s\n", f)
	}
	for _, x := range n.Neighbors {
		fmt.Fprintf(&b, "  %s\n", x)
	}
	return b.String()
}

// String is the canonical text of the whole result.
func (r Result) String() string {
	var b strings.Builder
	for _, n := range r.Nodes {
		b.WriteString(n.String())
	}
	for _, p := range r.Problems {
		fmt.Fprintf(&b, "problem %s\n", p)
	}
	return b.String()
}
