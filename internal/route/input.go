package route

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"

	"github.com/trellisnet/trellis/internal/model"
)

// Input is everything the calculation depends on. Slices may be in any order.
type Input struct {
	Nodes     []*model.Node
	Pools     []*model.IPPool
	BGPConfig []*model.BGPConfiguration // "default" and "node.NAME" are used
	BGPPeers  []*model.BGPPeer
	// BGPFilters are the filters BGPPeers name in spec.filters.
	BGPFilters []*model.BGPFilter
	Blocks     []Block
	Borrowed   []Borrowed
	// Services are advertised as the default BGPConfiguration's serviceClusterIPs,
	// serviceExternalIPs and serviceLoadBalancerIPs say (see ServicesFromModel).
	Services []Service
	// BGP turns the BGP speaker calculation on (the lab's routing mode "bgp").
	BGP bool
}

// Block is an IPAM block and the node it is affine to ("" for none).
type Block struct {
	CIDR netip.Prefix
	Node string
}

// Borrowed is an address a node uses from a block that is not affine to it.
type Borrowed struct {
	Addr netip.Addr
	Node string
}

// AttrNode is the IPAM allocation attribute naming the node an address is used on.
const AttrNode = "node"

// BlocksFromModel extracts blocks and borrowed addresses from stored IPAM blocks: an
// allocation whose "node" attribute names another node than the block's affinity is
// borrowed by that node. Unparsable block CIDRs are returned as problems.
func BlocksFromModel(blocks []*model.IPAMBlock) ([]Block, []Borrowed, []Problem) {
	var out []Block
	var borrowed []Borrowed
	var problems []Problem
	for _, b := range blocks {
		cidr, err := netip.ParsePrefix(b.Spec.CIDR)
		if err != nil {
			problems = append(problems, Problem{Object: "IPAMBlock/" + b.Name,
				Message: fmt.Sprintf("spec.cidr: invalid CIDR %q", b.Spec.CIDR)})
			continue
		}
		cidr = cidr.Masked()
		out = append(out, Block{CIDR: cidr, Node: b.Spec.Affinity})
		a := cidr.Addr()
		for _, idx := range b.Spec.Allocations {
			if idx != nil && *idx >= 0 && *idx < len(b.Spec.Attributes) {
				if n := b.Spec.Attributes[*idx].Attrs[AttrNode]; n != "" && n != b.Spec.Affinity {
					borrowed = append(borrowed, Borrowed{Addr: a, Node: n})
				}
			}
			a = a.Next()
		}
	}
	return out, borrowed, problems
}

// nodeInfo is a node's parsed routing-relevant fields.
type nodeInfo struct {
	name      string
	labels    map[string]string
	addr      netip.Addr   // IPv4 underlay address
	subnet    netip.Prefix // its subnet
	addr6     netip.Addr   // IPv6 address from spec.bgp.ipv6Address (BGP over IPv6)
	subnet6   netip.Prefix
	as        uint32
	hasAS     bool
	clusterID string
	port      uint16
	tunnel    netip.Addr
	mac       string
}

// underlay finds a node's IPv4 address: spec.bgp.ipv4Address, else the first IPv4
// InternalIP or CalicoNodeIP address.
func underlay(n *model.Node) (netip.Prefix, bool) {
	var cands []string
	if n.Spec.BGP != nil && n.Spec.BGP.IPv4Address != "" {
		cands = append(cands, n.Spec.BGP.IPv4Address)
	}
	for _, a := range n.Spec.Addresses {
		if a.Type == model.NodeAddressInternalIP || a.Type == model.NodeAddressCalicoNode {
			cands = append(cands, a.Address)
		}
	}
	for _, c := range cands {
		if p, err := parseAddrOrPrefix(c); err == nil && p.Addr().Is4() {
			return p, true
		}
	}
	return netip.Prefix{}, false
}

// parseAddrOrPrefix parses "192.0.2.1/24" or "192.0.2.1" (a /32).
func parseAddrOrPrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		return netip.ParsePrefix(s)
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// ParseMAC checks a colon-separated 6-byte MAC address and returns it in lower case.
func ParseMAC(s string) (string, error) {
	parts := strings.Split(s, ":")
	if len(parts) != 6 {
		return "", fmt.Errorf("invalid MAC address %q: want 6 colon-separated bytes", s)
	}
	for _, p := range parts {
		if len(p) != 2 || !isHex(p[0]) || !isHex(p[1]) {
			return "", fmt.Errorf("invalid MAC address %q: want 6 colon-separated bytes", s)
		}
	}
	return strings.ToLower(s), nil
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// parseNodes parses nodes, sorted by name; bad fields are left empty with a problem.
func parseNodes(nodes []*model.Node, prob *problems) []*nodeInfo {
	out := make([]*nodeInfo, 0, len(nodes))
	for _, n := range nodes {
		ni := &nodeInfo{name: n.Name, labels: n.Labels}
		obj := "Node/" + n.Name
		if p, ok := underlay(n); ok {
			ni.addr, ni.subnet = p.Addr(), p.Masked()
		}
		if b := n.Spec.BGP; b != nil {
			if s := b.IPv6Address; s != "" {
				if p, err := parseAddrOrPrefix(s); err == nil && p.Addr().Is6() && !p.Addr().Is4In6() {
					ni.addr6, ni.subnet6 = p.Addr(), p.Masked()
				} else {
					prob.add(obj, fmt.Sprintf("spec.bgp.ipv6Address: invalid IPv6 address %q", s))
				}
			}
			if b.ASNumber != nil {
				ni.as, ni.hasAS = uint32(*b.ASNumber), true
			}
			ni.clusterID = b.RouteReflectorClusterID
		}
		if s := n.Spec.IPv4VXLANTunnelAddr; s != "" {
			if a, err := netip.ParseAddr(s); err == nil && a.Is4() {
				ni.tunnel = a
			} else {
				prob.add(obj, fmt.Sprintf("spec.ipv4VXLANTunnelAddr: invalid IPv4 address %q", s))
			}
		}
		if s := n.Spec.VXLANTunnelMACAddr; s != "" {
			if m, err := ParseMAC(s); err == nil {
				ni.mac = m
			} else {
				prob.add(obj, "spec.vxlanTunnelMACAddr: "+err.Error())
			}
		}
		out = append(out, ni)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// problems collects and sorts Problems.
type problems struct{ list []Problem }

func (p *problems) add(obj, msg string) { p.list = append(p.list, Problem{Object: obj, Message: msg}) }

func (p *problems) sorted() []Problem {
	sort.Slice(p.list, func(i, j int) bool {
		if p.list[i].Object != p.list[j].Object {
			return p.list[i].Object < p.list[j].Object
		}
		return p.list[i].Message < p.list[j].Message
	})
	out := p.list[:0]
	for i, x := range p.list {
		if i == 0 || x != p.list[i-1] {
			out = append(out, x)
		}
	}
	return out
}
