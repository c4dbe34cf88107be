// Package lab runs a local multi-node Trellis cluster on one Linux machine: network
// namespaces for the fabric, the nodes and the pods, the embedded datastore, one node agent
// per node and a controller that realises Pods through the real CNI plugin.
//
// Layout of a lab named NAME:
//   - namespaces (bound under /run/netns): trl-NAME-fab (the fabric: bridge "br0"), one
//     trl-NAME-NODE per node (underlay interface eth0, 10.99.0.0/24, forwarding on) and one
//     trl-NAME-pHASH per pod (HASH: 10 hex characters of SHA-1 of "namespace/pod");
//   - the state directory /run/trellis/lab/NAME: state.json (nodes, addresses, pids), the
//     datastore's data and socket (datastore.sock), the agents' status sockets, the CNI plugin
//     directory (cni/bin: trellis-cni and trellis-ipam links to the trellis binary), one
//     conflist per node (cni/net.d), the libcni cache, every process's log (logs/) and one
//     record per realised pod (pods/), so that a restarted controller can still run CNI DEL
//     for a pod deleted while it was down;
//   - processes: `trellis datastore run`, `trellis lab controller` and `trellis lab
//     supervise` (restarts the other two when they exit, with backoff, counting restarts in
//     state.json; it acts only once state.json names it) in the root namespace,
//     one `trellis node run` inside each node namespace, pod containers inside their pod
//     namespaces. All are started in sessions of their own so that they outlive `lab up`.
//   - pod routing between nodes (done by the agents): with --routing bgp every Node has
//     spec.bgp.ipv4Address (its underlay address) and the agents' BGP speakers form a full
//     mesh over the fabric; with --routing vxlan the default pool has vxlanMode Always, the
//     Nodes have no BGP address, and each agent records its tunnel address and MAC on its
//     Node and programs the trellis.vxlan device;
//   - /run/trellis/lab/current names the lab that `lab up` started last; DefaultEndpoint
//     gives its datastore socket.
//
// Invariants (isolation, a hard rule):
//   - nothing in the root namespace changes except the lab's namespaces, the files under
//     /run/trellis and the lab's processes: no link, route, address or NAT rule is made there,
//     and no lab namespace has a link to the root namespace;
//   - every name the lab creates starts with trl-NAME-, lab names are [a-z0-9] only, so the
//     prefix of one lab never matches another's;
//   - Down kills the supervisor first (so nothing is restarted under it), then the
//     controller, then the rest;
//   - Down kills only processes that are provably the lab's (a pid recorded in state.json
//     whose command line names the lab, or a process living inside one of the lab's
//     namespaces) and removes only namespaces named trl-NAME-*; it is idempotent and works
//     without state.json (after a crash).
//
// External hosts (lab external add HOST) are namespaces trl-NAME-HOST on the fabric at the
// highest free address (10.99.0.254 down), with no default route and forwarding off; with
// --bird Debian's bird2 runs in one (config, socket in DIR/router-HOST, log in logs/). They
// are recorded in state.json and, living in lab namespaces, removed by lab down even after a
// crash. lab node add|remove change a running lab under a lock on DIR/state.lock.
//
// Namespace switching goes through internal/netns. This package must never touch a link,
// route, namespace or process it did not create.
package lab
