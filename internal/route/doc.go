// Package route computes Trellis's pod routing intent: per node, the BGP speaker
// configuration (router ID, AS, listen port, peers from the node-to-node mesh, BGPPeer
// resources and route-reflector roles), the prefixes the node advertises (its affine IPAM
// blocks and /32 or /128 host routes for addresses it borrowed from other nodes' blocks),
// the blackhole routes for its own blocks, and for the VXLAN overlay its VTEP and the
// routes, FDB and neighbour entries for every remote node. With BGP it also computes the
// service addresses each node advertises (ServicesFromModel turns Services and their
// EndpointSlices into the Service input) and the service ranges no node installs routes
// for (NoInstall).
//
// Compute is a pure function of Input: the same input always gives the same, sorted Result,
// whose String is the canonical text used by the golden tests and by logs. Merge combines
// the calculated routes with routes learned over BGP (calculated ones win for a prefix).
//
// Invariants:
//   - output is sorted (nodes by name, peers by address, routes by prefix) and independent
//     of input order;
//   - a node never peers with itself and has at most one session per peer address;
//   - bad stored data (an unparsable selector, address or MAC) yields fewer sessions and
//     routes plus a Problem, never more: fail closed;
//   - when two Trellis nodes both have a session to each other exactly one side is active
//     (the lower address connects, the higher one is passive), so connections never
//     collide; a one-sided session (reversePeering Manual, peerIP) is always active.
//
// Semantics (after Calico): the local AS is the node's spec.bgp.asNumber, else the default
// BGPConfiguration's asNumber, else 64512; the listen port is the BGPConfiguration's
// listenPort ("node.NAME" overrides "default"), else 179; the mesh is on unless
// nodeToNodeMeshEnabled is false. A BGPPeer applies to spec.node, else to the nodes
// matching spec.nodeSelector, else to every node; it peers with spec.peerIP (AS
// spec.asNumber) or with every other node matching spec.peerSelector, in which case the
// reverse session is added to the selected node too (unless reversePeering is Manual). A
// node with spec.bgp.routeReflectorClusterID reflects routes to every iBGP peer from a
// BGPPeer whose cluster ID differs from its own (its route-reflector clients); mesh
// sessions are never client sessions. Blocks of pools with disableBGPExport are not
// advertised, nor (sessions being IPv4 only for now) IPv6 blocks or IPv6 service addresses.
//
// Service advertisement (after Calico): every node advertises the default
// BGPConfiguration's serviceClusterIPs, serviceExternalIPs and serviceLoadBalancerIPs CIDRs;
// for a Service with externalTrafficPolicy Local each of its cluster IPs, external IPs and
// status.loadBalancer ingress IPs that lies inside a configured range of its kind is also
// advertised as a /32 (/128), only by the nodes that have a ready endpoint of it
// (EndpointSlice endpoints[].nodeName with conditions.ready true or unset). A node labelled
// node.kubernetes.io/exclude-from-external-load-balancers advertises no service address.
// Every configured service range is in NoInstall: learned routes inside it are never
// installed, each node's service proxy handles those addresses.
//
// BGPFilter (after Calico): a session created by a BGPPeer whose spec.filters names
// BGPFilters gets a PeerFilter in Node.Filters, the filters' importV4/importV6 and
// exportV4/exportV6 rules concatenated in the order of spec.filters. Decide runs a rule
// list on one route: the first rule whose family, CIDR test (Equal, NotEqual, In, NotIn
// with the prefixLength range, default from the CIDR's length to the address length) and
// source (RemotePeers: learned from a peer) hold decides Accept or Reject; no match means
// the behaviour without filters. Rules with an interface never match (Trellis's BGP routes
// have none). A missing or unusable filter makes the peer reject every route in both
// directions, with a Problem (fail closed).
//
// VXLAN routes are computed for blocks of pools whose vxlanMode is Always or
// CrossSubnet; with CrossSubnet a remote node in the local node's underlay subnet is
// reached by a plain route via its underlay address.
//
// This package is part of the pure core: it must never import os, net (it uses net/netip),
// netlink, read the clock, log or start goroutines.
package route
