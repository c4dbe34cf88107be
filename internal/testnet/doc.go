// Package testnet builds throwaway test topologies out of network namespaces: one "host"
// namespace and several "pod" namespaces, each joined to the host by a veth pair wired
// the way Calico wires workloads (a /32 and /128 route per pod on the host side, the
// gateways 169.254.1.1 and fe80::1 on every host-side veth, a default route in the pod via
// them). It also runs TCP/UDP echo
// servers and TCP, UDP and ICMP probes inside those namespaces, in-process, through
// internal/netns (sockets opened inside a namespace stay bound to it).
//
// Invariants:
//   - every name it creates starts with "trl" and carries a random tag, so concurrent
//     tests never collide;
//   - all traffic stays inside the namespaces it created (addresses 10.x and
//     2001:db8::/32 exist only there); nothing in the caller's namespace is touched;
//   - New registers removal of everything it created in t.Cleanup, by name, even when the
//     test fails; Build/Close do the same for callers without a testing.TB.
//
// It must never touch links, routes or tables of a namespace it did not create.
package testnet
