// Package link programs Trellis's pod routing into the kernel through netlink: routes in
// the main table (unicast, blackhole, onlink, ECMP), the VXLAN tunnel device, and the
// device's FDB and neighbour entries. It is an edge: the desired state comes from
// internal/route (calculated) and internal/bgp (learned), this package only diffs it
// against the kernel and applies the difference.
//
// Route ownership: every route this package writes carries the route protocol number
// Protocol (201, "trellis"), and it only ever lists, replaces or deletes routes of that
// protocol in the main table. A missing route is added with a plain add (never replace), so
// a route of another owner for the same destination makes the add fail with an error
// instead of being overwritten. A changed route of ours is replaced in one netlink call
// (no delete-then-add gap); extra routes of ours are deleted. Each Sync is a full resync:
// a route removed or changed behind our back is repaired by the next call.
//
// VXLAN: EnsureVXLAN creates or corrects the tunnel device (name, VNI, UDP port, MAC, MTU,
// source address, tunnel address, up); SyncFDB and SyncNeighbors reconcile the permanent
// entries on that device only.
//
// Invariants: every handle is bound to one network namespace by its creator; this package
// never switches namespaces itself (internal/netns does), never touches links other than
// the VXLAN device it is given by name, and never deletes a route whose protocol is not
// Protocol.
package link
