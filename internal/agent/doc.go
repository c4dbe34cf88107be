// Package agent is the Trellis node agent (`trellis node run`): it lists and watches the
// store, feeds the policy calculation with what changed, renders the node's desired
// nftables table and applies it, then reports what it did (EndpointStatus objects for the
// CNI plugin's policy wait, /healthz, /readyz, /metrics and /status; /metrics alone on
// Config.MetricsAddr). Its metrics: syncs and their phases, nft rule counters by tier,
// policy, direction and rule, the policy and routing loops' runs (runnermetrics), BGP
// sessions by state and per peer with their routes, datastore reachability.
//
// Flow: a watch goroutine lists every kind the calculation needs, then watches all kinds
// from the first list's revision; it only records the latest object per store key and
// pokes the runner. The runner (one goroutine) coalesces work, at most one sync per
// Config.RateLimit and immediately when idle: it feeds the recorded changes to the
// policy.Calculator, takes the node's policy.State, renders it (nft.Render) and applies it
// with nft.Applier: a full sync at start, after any error and every ResyncPeriod, a
// partial one otherwise. After a successful sync it publishes the programmed local
// endpoints (their UIDs) to the status server's /endpoint (agentapi.EndpointPath), and
// writes EndpointStatus for every local WorkloadEndpoint and deletes statuses of this
// node's endpoints that went away, except over a store that derives endpoints from pods
// (store.DerivedEndpoints: the kubernetes datastore, where nothing is stored per pod and
// the CNI plugin asks /endpoint). With Config.BGPIPv4Address it writes the node's BGP
// address (and AS number) to its Calico Node at start, retrying until that succeeds.
//
// The agent runs three loops over one watch: the policy loop above (with the service
// proxy and IPPool natOutgoing (natout.go), whose rules go in the same table and
// transaction), pod routing (package
// routing, a Router the watch tells about every changed kind) and, when configured, the
// IPAM leak collector. The policy and routing loops run on internal/runner. What talks to
// a running agent (its client, /status shapes, socket and IPAM handle names) lives in
// package agentapi, which must not import this one.
//
// Drift (someone changing the table behind the agent's back: a deleted table or chain, a
// flushed chain, a deleted rule, a removed set or map element) is repaired by a full sync.
// With Dataplane.Monitor (the kernel's nftables notifications, read from netlink without
// formatting) every committed transaction that touched the table is reported with its
// generation; the agent brackets each of its own transactions with two reads of the
// generation counter (Dataplane.Generation), so the echo of its own writes is ignored and
// any other change asks for a full sync at once, at most one per second (drift.go). The
// periodic full sync remains the backstop.
//
// Datastore loss (reach.Monitor probes the store every second) is logged with the
// endpoint, shown by /readyz (not ready: "datastore unreachable since ...: ENDPOINT: ...")
// and the trellis_datastore_up gauge; the dataplane keeps enforcing what it has (nothing
// is flushed). When the store answers again the watch ends and the agent lists every kind
// again and re-watches (trellis_datastore_reconnects_total).
//
// Invariants:
//   - nothing is programmed before the initial list of every kind is complete (in sync);
//     stale chains, sets and statuses are removed only after that;
//   - each sync is one nft transaction (the Applier's), so packets see the old or the new
//     policy, never a mix; the table is never flushed;
//   - fail closed: the calculation turns missing references into deny and the renderer
//     drops unknown workload interfaces; the agent never "allows all" on an error;
//   - fail static: the table stays in the kernel when the agent exits; a restarted agent
//     reconciles it with a full sync without flushing it;
//   - the agent's own writes never cause a full sync: only a generation outside the
//     brackets of its own transactions counts as drift;
//   - New does no I/O and starts no goroutines; Run does, and returns when its context ends.
//
// The agent must never touch a table other than its own, delete its table, or write an
// EndpointStatus of another node.
package agent
