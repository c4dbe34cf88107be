// Package routing is the node agent's routing loop: it programs this node's pod routing
// from the store, as Calico's BIRD and Felix's route manager do together. On every
// change of a routing kind (Node, IPPool, BGPConfiguration, BGPPeer, BGPFilter, IPAM
// blocks and affinities, Service, EndpointSlice) it lists again only the kinds that
// changed (every kind at start, after an error and every resync), computes route.Compute
// for its node and applies the result: kernel routes, the VXLAN device with its FDB and
// neighbours through dataplane/link, and BGP sessions and advertisements through a
// gobgp speaker (internal/bgp). For VXLAN it allocates the node's tunnel address (IPAM
// handle agentapi.TunnelHandle) and MAC (TunnelMAC) and records them on its Node.
//
// The agent owns the watch: it calls Router.Changed for what it sees, and Router.Run
// syncs on its own goroutine through an internal/runner (at most one sync per
// max(RateLimit, 200 ms)).
//
// Invariants:
//   - New does no I/O and starts no goroutines; Run does, and returns when ctx ends;
//   - only routes with protocol 201 are listed, replaced and deleted (dataplane/link);
//   - fail static: when Run returns, the kernel routes stay and the speaker stops with
//     graceful restart, so peers keep this node's routes for the restart time; a restarted
//     router keeps the routes it finds until its peers have sent End-of-RIB (or the grace
//     ends);
//   - a node whose Node has no BGP address and no VXLAN pool programs nothing, and tears
//     down what it had programmed.
//
// It must never touch routes of another protocol, write any object but its own Node's
// tunnel fields and its own tunnel address, or block the agent's watch.
package routing
