package route

import (
	"fmt"
	"net/netip"
	"sort"

	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/selector"
)

// bgpSettings are the cluster-wide settings of the BGPConfiguration named "default".
type bgpSettings struct {
	as          uint32
	port        uint16
	mesh        bool
	meshRestart uint32
	nodePort    map[string]uint16 // from "node.NAME" configurations
}

func parseBGPConfig(cfgs []*model.BGPConfiguration) bgpSettings {
	s := bgpSettings{as: DefaultASNumber, port: DefaultListenPort, mesh: true,
		meshRestart: DefaultMaxRestartTime, nodePort: map[string]uint16{}}
	for _, c := range cfgs {
		if c.Name != model.DefaultBGPConfigName {
			continue
		}
		if c.Spec.ASNumber != nil {
			s.as = uint32(*c.Spec.ASNumber)
		}
		if c.Spec.ListenPort != 0 {
			s.port = c.Spec.ListenPort
		}
		if c.Spec.NodeToNodeMeshEnabled != nil {
			s.mesh = *c.Spec.NodeToNodeMeshEnabled
		}
		if d := c.Spec.NodeMeshMaxRestartTime; d != nil && d.Duration > 0 {
			s.meshRestart = uint32(d.Seconds())
		}
	}
	for _, c := range cfgs {
		if name, ok := cutPrefix(c.Name, "node."); ok && c.Spec.ListenPort != 0 {
			s.nodePort[name] = c.Spec.ListenPort
		}
	}
	return s
}

func cutPrefix(s, p string) (string, bool) {
	if len(s) > len(p) && s[:len(p)] == p {
		return s[len(p):], true
	}
	return "", false
}

// speakerSet accumulates sessions per node.
type speakerSet struct {
	byName map[string]*Speaker
	info   map[string]*nodeInfo
	byAddr map[netip.Addr]*nodeInfo // IPv4 and IPv6 addresses
}

func (ss *speakerSet) add(local *nodeInfo, p Peer, peerCluster string) {
	sp := ss.byName[local.name]
	if sp == nil || p.Address == sp.Address || (sp.Address6.IsValid() && p.Address == sp.Address6) {
		return
	}
	if p.Address.Is6() && !sp.Address6.IsValid() {
		return // no IPv6 address to speak from
	}
	if p.Source != "mesh" && sp.ClusterID != "" && p.ASNumber == sp.ASNumber && peerCluster != sp.ClusterID {
		p.RRClient = true
	}
	for i := range sp.Peers {
		if sp.Peers[i].Address == p.Address {
			sp.Peers[i].RRClient = sp.Peers[i].RRClient || p.RRClient
			return
		}
	}
	sp.Peers = append(sp.Peers, p)
}

// hasSession reports whether node has a session to addr.
func (ss *speakerSet) hasSession(node string, addr netip.Addr) bool {
	sp := ss.byName[node]
	if sp == nil {
		return false
	}
	for _, p := range sp.Peers {
		if p.Address == addr {
			return true
		}
	}
	return false
}

func computeSpeakers(nodes []*nodeInfo, cfgs []*model.BGPConfiguration, peers []*model.BGPPeer, prob *problems) map[string]*Speaker {
	set := parseBGPConfig(cfgs)
	ss := &speakerSet{byName: map[string]*Speaker{}, info: map[string]*nodeInfo{}, byAddr: map[netip.Addr]*nodeInfo{}}
	var bgpNodes []*nodeInfo
	for _, n := range nodes {
		if !n.addr.IsValid() {
			continue
		}
		if other := ss.byAddr[n.addr]; other != nil {
			prob.add("Node/"+n.name, fmt.Sprintf("IPv4 address %s is also node %s's: no BGP", n.addr, other.name))
			continue
		}
		as := set.as
		if n.hasAS {
			as = n.as
		}
		port := set.port
		if p, ok := set.nodePort[n.name]; ok {
			port = p
		}
		n.port = port
		sp := &Speaker{RouterID: n.addr, Address: n.addr, Subnet: n.subnet, ASNumber: as,
			ListenPort: port, ClusterID: n.clusterID}
		if n.addr6.IsValid() {
			if other := ss.byAddr[n.addr6]; other != nil {
				prob.add("Node/"+n.name, fmt.Sprintf("IPv6 address %s is also node %s's: no IPv6 sessions", n.addr6, other.name))
				n.addr6 = netip.Addr{}
			} else {
				sp.Address6, sp.Subnet6 = n.addr6, n.subnet6
				ss.byAddr[n.addr6] = n
			}
		}
		ss.byName[n.name] = sp
		ss.info[n.name] = n
		ss.byAddr[n.addr] = n
		bgpNodes = append(bgpNodes, n)
	}
	// nodePeers are the sessions to node r: over IPv4 and, when both ends have an IPv6
	// address, over IPv6 too (as Calico runs one BIRD per family).
	nodePeers := func(l, r *nodeInfo, source string, restart uint32) []Peer {
		ps := []Peer{{Address: r.addr, Port: r.port, ASNumber: ss.byName[r.name].ASNumber, Node: r.name,
			Source: source, RestartTime: restart}}
		if l.addr6.IsValid() && r.addr6.IsValid() {
			p6 := ps[0]
			p6.Address = r.addr6
			ps = append(ps, p6)
		}
		return ps
	}
	if set.mesh {
		for _, l := range bgpNodes {
			for _, r := range bgpNodes {
				if l != r {
					for _, p := range nodePeers(l, r, "mesh", set.meshRestart) {
						ss.add(l, p, r.clusterID)
					}
				}
			}
		}
	}
	sorted := append([]*model.BGPPeer(nil), peers...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	for _, bp := range sorted {
		addBGPPeer(ss, bgpNodes, bp, nodePeers, prob)
	}
	for _, sp := range ss.byName {
		sort.Slice(sp.Peers, func(i, j int) bool { return sp.Peers[i].Address.Less(sp.Peers[j].Address) })
		for i := range sp.Peers {
			p := &sp.Peers[i]
			own := sp.Address
			if p.Address.Is6() {
				own = sp.Address6
			}
			p.Passive = p.Node != "" && own.Compare(p.Address) > 0 && ss.hasSession(p.Node, own)
		}
	}
	return ss.byName
}

func addBGPPeer(ss *speakerSet, nodes []*nodeInfo, bp *model.BGPPeer, nodePeers func(l, r *nodeInfo, source string, restart uint32) []Peer, prob *problems) {
	obj, spec := "BGPPeer/"+bp.Name, bp.Spec
	source := "bgppeer/" + bp.Name
	restart := uint32(DefaultMaxRestartTime)
	if spec.MaxRestartTime != nil && spec.MaxRestartTime.Duration > 0 {
		restart = uint32(spec.MaxRestartTime.Seconds())
	}
	keep := spec.KeepOriginalNextHop || (spec.NextHopMode != nil && *spec.NextHopMode == model.NextHopKeep)
	locals, ok := selectNodes(nodes, spec.Node, spec.NodeSelector, obj, "spec.nodeSelector", prob)
	if !ok {
		return
	}
	switch {
	case spec.PeerIP != "" && spec.PeerSelector != "":
		prob.add(obj, "spec.peerIP and spec.peerSelector are mutually exclusive: ignored")
	case spec.PeerIP != "":
		addr, port, err := parsePeerIP(spec.PeerIP)
		if err != nil {
			prob.add(obj, "spec.peerIP: "+err.Error())
			return
		}
		if spec.ASNumber == 0 {
			prob.add(obj, "spec.asNumber: required with spec.peerIP")
			return
		}
		p := Peer{Address: addr, Port: port, ASNumber: uint32(spec.ASNumber), Source: source,
			KeepNextHop: keep, RestartTime: restart}
		cluster := ""
		if r := ss.byAddr[addr]; r != nil {
			p.Node, cluster = r.name, r.clusterID
		}
		for _, l := range locals {
			ss.add(l, p, cluster)
		}
	case spec.PeerSelector != "":
		remotes, ok := selectNodes(nodes, "", spec.PeerSelector, obj, "spec.peerSelector", prob)
		if !ok {
			return
		}
		for _, l := range locals {
			for _, r := range remotes {
				if l == r {
					continue
				}
				for _, p := range nodePeers(l, r, source, restart) {
					p.KeepNextHop = keep
					ss.add(l, p, r.clusterID)
				}
				if spec.ReversePeering != model.ReversePeeringManual {
					for _, rp := range nodePeers(r, l, source, restart) {
						rp.KeepNextHop = keep
						ss.add(r, rp, l.clusterID)
					}
				}
			}
		}
	default:
		prob.add(obj, "neither spec.peerIP nor spec.peerSelector is set: ignored")
	}
}

// selectNodes picks the BGP nodes named by name, else matching sel, else all of them.
func selectNodes(nodes []*nodeInfo, name, sel, obj, field string, prob *problems) ([]*nodeInfo, bool) {
	if name != "" {
		for _, n := range nodes {
			if n.name == name {
				return []*nodeInfo{n}, true
			}
		}
		return nil, true
	}
	if sel == "" {
		return nodes, true
	}
	s, err := selector.Parse(sel)
	if err != nil {
		prob.add(obj, fmt.Sprintf("%s: %v", field, err))
		return nil, false
	}
	var out []*nodeInfo
	for _, n := range nodes {
		if s.Matches(selector.Map(n.labels)) {
			out = append(out, n)
		}
	}
	return out, true
}

// parsePeerIP parses "192.0.2.1", "192.0.2.1:1179", "2001:db8::1" or "[2001:db8::1]:1179".
func parsePeerIP(s string) (netip.Addr, uint16, error) {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap(), 0, nil
	}
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return netip.Addr{}, 0, fmt.Errorf("invalid address %q: want IP or IP:port", s)
	}
	if ap.Port() == 0 {
		return netip.Addr{}, 0, fmt.Errorf("invalid port in %q", s)
	}
	return ap.Addr().Unmap(), ap.Port(), nil
}

// PeerKey is a stable text key of a peer for logs and status: "ADDR" or "ADDR:PORT".
func PeerKey(p Peer) string {
	if p.Port == 0 || p.Port == DefaultListenPort {
		return p.Address.String()
	}
	return netip.AddrPortFrom(p.Address, p.Port).String()
}
