package route

import (
	"net/netip"
	"slices"
	"sort"

	"github.com/trellisnet/trellis/internal/model"
)

// pool is a parsed IPPool.
type pool struct {
	cidr      netip.Prefix
	vxlan     model.EncapMode
	noExport  bool
	isOverlay bool
}

// Compute calculates every node's routing intent.
func Compute(in Input) Result {
	var prob problems
	nodes := parseNodes(in.Nodes, &prob)
	pools := parsePools(in.Pools, &prob)
	blocks := sortedBlocks(in.Blocks)
	borrowed := sortedBorrowed(in.Borrowed)
	var speakers map[string]*Speaker
	if in.BGP {
		speakers = computeSpeakers(nodes, in.BGPConfig, in.BGPPeers, &prob)
	}
	var filters map[string]*PeerFilter
	bgpPeers := map[string]*model.BGPPeer{}
	if in.BGP {
		filters = parseFilters(in.BGPFilters, &prob)
		for _, bp := range in.BGPPeers {
			bgpPeers[bp.Name] = bp
		}
	}
	svcCIDRs := parseServiceCIDRs(in.BGPConfig, &prob)
	overlay := false
	for _, p := range pools {
		overlay = overlay || p.isOverlay
	}
	res := Result{}
	for _, n := range nodes {
		out := Node{Name: n.name, BGP: speakers[n.name]}
		if in.BGP {
			out.Advertise = advertised(n.name, blocks, borrowed, pools)
			out.Advertise = append(out.Advertise, serviceAdvertisements(n, svcCIDRs, in.Services)...)
			out.Advertise = sortPrefixes(out.Advertise)
			if sp := out.BGP; sp == nil || !sp.Address6.IsValid() {
				out.Advertise = onlyIPv4(out.Advertise)
			}
			out.NoInstall = svcCIDRs.all()
			out.Filters = peerFilters(out.BGP, bgpPeers, filters, &prob)
		}
		out.Routes = blackholes(n.name, blocks)
		if overlay {
			addOverlay(&out, n, nodes, blocks, borrowed, pools)
		}
		res.Nodes = append(res.Nodes, out)
	}
	res.Problems = prob.sorted()
	return res
}

func parsePools(in []*model.IPPool, prob *problems) []pool {
	var out []pool
	for _, p := range in {
		cidr, err := netip.ParsePrefix(p.Spec.CIDR)
		if err != nil {
			prob.add("IPPool/"+p.Name, "spec.cidr: invalid CIDR "+p.Spec.CIDR)
			continue
		}
		mode := p.Spec.VXLANMode
		out = append(out, pool{cidr: cidr.Masked(), vxlan: mode, noExport: p.Spec.DisableBGPExport,
			isOverlay: cidr.Addr().Is4() && (mode == model.EncapAlways || mode == model.EncapCrossSubnet)})
	}
	return out
}

// poolOf is the most specific pool containing prefix p.
func poolOf(pools []pool, p netip.Prefix) (pool, bool) {
	best, found := pool{}, false
	for _, pl := range pools {
		if pl.cidr.Bits() <= p.Bits() && pl.cidr.Contains(p.Addr()) && (!found || pl.cidr.Bits() > best.cidr.Bits()) {
			best, found = pl, true
		}
	}
	return best, found
}

func sortedBlocks(in []Block) []Block {
	out := slices.Clone(in)
	for i := range out {
		out[i].CIDR = out[i].CIDR.Masked()
	}
	sort.Slice(out, func(i, j int) bool { return prefixLess(out[i].CIDR, out[j].CIDR) })
	return slices.CompactFunc(out, func(a, b Block) bool { return a == b })
}

func sortedBorrowed(in []Borrowed) []Borrowed {
	out := slices.Clone(in)
	sort.Slice(out, func(i, j int) bool {
		if c := out[i].Addr.Compare(out[j].Addr); c != 0 {
			return c < 0
		}
		return out[i].Node < out[j].Node
	})
	return slices.Compact(out)
}

func prefixLess(a, b netip.Prefix) bool {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c < 0
	}
	return a.Bits() < b.Bits()
}

func hostPrefix(a netip.Addr) netip.Prefix { return netip.PrefixFrom(a, a.BitLen()) }

// advertised is the node's affine blocks and borrowed addresses, less those of pools with
// disableBGPExport. (IPv6 ones are dropped by the caller unless the node speaks IPv6.)
func advertised(node string, blocks []Block, borrowed []Borrowed, pools []pool) []netip.Prefix {
	var out []netip.Prefix
	exported := func(p netip.Prefix) bool {
		pl, ok := poolOf(pools, p)
		return !ok || !pl.noExport
	}
	for _, b := range blocks {
		if b.Node == node && exported(b.CIDR) {
			out = append(out, b.CIDR)
		}
	}
	for _, b := range borrowed {
		if b.Node == node && exported(hostPrefix(b.Addr)) {
			out = append(out, hostPrefix(b.Addr))
		}
	}
	sort.Slice(out, func(i, j int) bool { return prefixLess(out[i], out[j]) })
	return slices.Compact(out)
}

// blackholes are the routes that keep unallocated addresses of the node's own blocks from
// being forwarded elsewhere.
func blackholes(node string, blocks []Block) []Route {
	var out []Route
	for _, b := range blocks {
		if b.Node == node {
			out = append(out, Route{Dst: b.CIDR, Blackhole: true})
		}
	}
	return out
}

// addOverlay adds the VTEP, the remote VTEPs' FDB and neighbour entries and routes to
// remote blocks and borrowed addresses of overlay pools.
func addOverlay(out *Node, local *nodeInfo, nodes []*nodeInfo, blocks []Block, borrowed []Borrowed, pools []pool) {
	if !local.tunnel.IsValid() || local.mac == "" || !local.addr.IsValid() {
		return
	}
	out.VTEP = &VTEP{Device: VXLANDevice, VNI: VXLANVNI, Port: VXLANPort, MAC: local.mac,
		Addr: local.tunnel, Underlay: local.addr}
	remote := map[string]*nodeInfo{}
	for _, r := range nodes {
		if r.name == local.name || !r.tunnel.IsValid() || r.mac == "" || !r.addr.IsValid() {
			continue
		}
		remote[r.name] = r
		out.FDB = append(out.FDB, FDBEntry{Dev: VXLANDevice, MAC: r.mac, Dst: r.addr})
		out.Neighbors = append(out.Neighbors, Neighbor{Dev: VXLANDevice, Addr: r.tunnel, MAC: r.mac})
	}
	routeTo := func(dst netip.Prefix, r *nodeInfo) (Route, bool) {
		pl, ok := poolOf(pools, dst)
		if !ok || !pl.isOverlay {
			return Route{}, false
		}
		if pl.vxlan == model.EncapCrossSubnet && local.subnet.Contains(r.addr) {
			return Route{Dst: dst, NextHops: []NextHop{{Via: r.addr}}}, true
		}
		return Route{Dst: dst, NextHops: []NextHop{{Via: r.tunnel, Dev: VXLANDevice, OnLink: true}}}, true
	}
	for _, b := range blocks {
		if r := remote[b.Node]; r != nil {
			if rt, ok := routeTo(b.CIDR, r); ok {
				out.Routes = append(out.Routes, rt)
			}
		}
	}
	for _, b := range borrowed {
		if r := remote[b.Node]; r != nil && b.Addr.Is4() {
			if rt, ok := routeTo(hostPrefix(b.Addr), r); ok {
				out.Routes = append(out.Routes, rt)
			}
		}
	}
	out.Routes = canonRoutes(out.Routes)
	sort.Slice(out.FDB, func(i, j int) bool { return out.FDB[i].MAC < out.FDB[j].MAC })
	sort.Slice(out.Neighbors, func(i, j int) bool { return out.Neighbors[i].Addr.Less(out.Neighbors[j].Addr) })
}

// canonRoutes sorts routes by destination and keeps the first route per destination.
func canonRoutes(rs []Route) []Route {
	sort.SliceStable(rs, func(i, j int) bool { return prefixLess(rs[i].Dst, rs[j].Dst) })
	return slices.CompactFunc(rs, func(a, b Route) bool { return a.Dst == b.Dst })
}

// Learned builds the kernel route for a prefix learned over BGP with the given next hops
// (several: ECMP). The next hops are on the fabric, so the kernel resolves the device.
func Learned(dst netip.Prefix, via []netip.Addr) Route {
	vs := slices.Clone(via)
	slices.SortFunc(vs, func(a, b netip.Addr) int { return a.Compare(b) })
	vs = slices.Compact(vs)
	r := Route{Dst: dst.Masked()}
	for _, v := range vs {
		r.NextHops = append(r.NextHops, NextHop{Via: v})
	}
	return r
}

// Merge combines calculated routes with routes learned over BGP: for a destination both
// have, the calculated route (a blackhole for an own block, an overlay route) wins. Learned
// routes without next hops are dropped. The result is sorted by destination.
func Merge(calculated, learned []Route) []Route {
	have := map[netip.Prefix]bool{}
	var out []Route
	for _, r := range calculated {
		have[r.Dst] = true
		out = append(out, r)
	}
	for _, r := range learned {
		if !have[r.Dst] && len(r.NextHops) > 0 {
			have[r.Dst] = true
			out = append(out, r)
		}
	}
	return canonRoutes(out)
}

// onlyIPv4 keeps the IPv4 prefixes: the sessions carry IPv4 unicast only.
func onlyIPv4(ps []netip.Prefix) []netip.Prefix {
	return slices.DeleteFunc(ps, func(p netip.Prefix) bool { return !p.Addr().Is4() })
}
