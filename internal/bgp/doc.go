// Package bgp is Trellis's BGP speaker: a thin adapter over github.com/osrg/gobgp/v4 that
// runs one BgpServer per node, makes its peers and advertised prefixes match the desired
// state calculated by internal/route, and reports the learned best paths (as kernel routes)
// to a callback, so the caller merges them with the calculated routes and installs them
// through internal/dataplane/link.
//
// Sessions: every peer gets IPv4 unicast with graceful restart (the restart time from
// route.Peer.RestartTime). When a peer's TCP session breaks without a NOTIFICATION (its
// agent was killed or restarted) gobgp keeps that peer's routes, marked stale, for the
// restart time, and the speakers here keep reporting them; when the peer comes back and
// sends End-of-RIB, routes it did not re-advertise are withdrawn. Stop(ctx, true) closes the
// sessions the same way (an agent restart), Stop(ctx, false) sends a NOTIFICATION so peers
// drop our routes at once (a node leaving). Route-reflector clients get the local cluster
// ID; passive peers wait for the remote side to connect.
//
// Learned routes: the speaker runs with multiple paths on, so for each prefix every path
// equal to the best (BGP multipath) is kept, one per peer, and reported as one route with
// one next hop per path (ECMP). Only paths received from a peer (never our own) whose
// prefix lies inside one of the accepted prefixes (SetAccept, typically the IP pools plus
// what an operator allowed) and outside every rejected prefix (SetReject: the service
// ranges) are reported; everything else stays in the RIB only. The callback is called
// from one goroutine, with the full sorted set each time, coalescing bursts. A peer's
// BGPFilter import rules (SetFilters) come first: a path they accept is reported even
// outside the accepted prefixes, one they reject is not; with no match the rule above
// applies. Rejected (service) prefixes are never reported.
//
// Export: a speaker that is not a route reflector never passes on routes learned from its
// iBGP peers (a global export policy rejects route type internal). An external peer thus
// learns each prefix only from the nodes that originate it: a Service's /32 only from the
// nodes with local endpoints, a block only from its node. Routes learned from external
// peers are passed to the other nodes as usual. BGPFilter export rules follow, as a second
// gobgp export policy whose statements each carry a neighbor set of one peer (gobgp
// evaluates an export neighbor set against the receiving peer); SetFilters replaces the
// policies at once and soft-resets the sessions outbound so peers learn and lose
// prefixes within moments. A filter can therefore never make a node pass on another
// node's routes.
//
// Restart: Synced reports whether every configured peer has sent End-of-RIB since it came
// up; a restarted agent keeps the routes it finds in the kernel until then (or until a grace
// period ends), so a restart does not interrupt traffic on its own node either.
//
// Limits: IPv4 unicast only; no long-lived graceful restart; no session passwords. gobgp
// keeps the multipath switch in a package variable, so every speaker of one process uses
// multiple paths.
//
// Network namespaces: gobgp opens its listening socket in its Serve goroutine and dials
// peers from per-peer goroutines it starts itself, so pinning the caller's goroutine to a
// namespace's thread does not move gobgp into that namespace (the listener could be, the
// dials would not). The speaker must therefore run in a process that lives entirely in the
// node's namespace: the agent is started inside it, and the tests re-execute the test
// binary inside each namespace (started from internal/netns.Do, so the child inherits it).
//
// This package never touches the kernel's routing tables itself and never opens sockets
// except through gobgp.
package bgp
