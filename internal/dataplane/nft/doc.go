// Package nft makes the kernel's nftables match Trellis's desired policy state.
//
// It has three separate steps:
//
//   - Render (pure): policy.State -> Table, the complete content of the one table the
//     agent owns (chains with ordered rules, sets, verdict maps with their elements).
//     A Renderer (cache.go) gives the same Table for successive states but reuses the
//     chain and set objects whose inputs (fingerprinted) did not change, so a small
//     change costs a small render, and the partial plan skips reused objects by
//     identity.
//   - Plan (pure): Table(s) -> one knftables.Transaction. A partial plan diffs the new
//     table against the one last applied (changed chains are flushed and refilled inside
//     the transaction, set elements are added and deleted one by one); a full plan diffs
//     it against a Listing of the kernel's table (listing.go: chains with a fingerprint
//     of each rule, sets and maps with their elements decoded into the canonical text of
//     Set.Elements, elements.go) and writes only what differs: missing objects and
//     elements are added, a chain whose rules differ is flushed and refilled, a set with
//     an element it should not have (or that could not be decoded) is flushed and
//     refilled, extras are deleted. A kernel that equals the desired table gets no
//     transaction.
//   - Apply: the Applier runs the plan through a knftables.Interface (the real nft or
//     knftables.Fake) and remembers what it applied. A full sync lists the kernel's
//     table through netlink (listing_linux.go; `nft list` takes seconds at 10k
//     policies) unless the network namespace's nftables generation, which the kernel
//     increments with every committed transaction, has not moved since the kernel was
//     known to hold the applied table (listed, or reached from a listed state by the
//     Applier's own transactions with nothing else committed in between): nothing can
//     have drifted then, and the full sync writes the difference to that table. Rule
//     fingerprints are opaque netlink bytes (counter values and anonymous set names
//     left out); the Applier learns the fingerprint of each rule it wrote by listing the
//     chains right after the transaction (only when the generation shows that nothing
//     else committed in between), so an unknown rule only costs a rewrite.
//
// Packet path: the forward hook has two base chains. "forward-from" (priority filter)
// dispatches packets arriving from a workload interface through the verdict map "from-wl"
// (keyed by iifname) to that endpoint's egress chain; "forward-to" (priority filter+10)
// dispatches packets leaving through a workload interface through "to-wl" (oifname) to the
// endpoint's ingress chain. An accept in the first lets the packet reach the second, a
// drop is final, so both the source's egress and the destination's ingress policy must
// allow. Conntrack established/related is accepted first and invalid dropped. An
// interface with the workload prefix that has no map entry is dropped (fail closed).
// Endpoint chains walk tiers in order, jumping to one shared chain per policy and
// direction; Allow is accept, Deny is drop, Log logs and continues, Pass sets a mark bit
// (Config.PassMark) that makes the endpoint chain skip the tier's remaining policies and
// its end-of-tier drop. Profiles follow the tiers, then the chain's final action. A run
// of allow-only policies (Config.MergeRun, merge.go) becomes one lookup in a
// concatenated (address . protocol . port) set, so the per-packet cost does not grow
// with the number of such policies; a run is merged only when its set holds at most
// twice the elements its rules use unmerged (a merged set is a cross product of
// addresses and ports, one per distinct run, while selector sets are shared). A run that
// is not merged but whose every rule requires the peer's address to be in some nets or
// selector set (Deny, Pass, Log, port ranges: ClusterNetworkPolicies naming tenants) is
// guarded (guard.go): one interval-set lookup of the peer address in the union of those
// addresses jumps to a chain holding the run's policy jumps, so a packet no rule of the
// run can match skips the run at the cost of that lookup. Traffic from a workload to the host itself goes
// through the same egress chain in the input hook ("input-from"); host-to-workload
// traffic is not policed. Host endpoints (hostep.go) get base chains at raw priority
// (doNotTrack: allow is notrack+accept), dstnat-10 (preDNAT), input/output (normal) and
// forward (applyOnForward), each dispatching by interface name through a verdict map,
// failsafe ports first. IPPool natOutgoing (natout.go) is one nat chain at postrouting
// (priority srcnat+10, after the service proxy's) with one masquerade rule per family:
// source in an interval set of the natOutgoing pools, destination outside the interval
// set of every pool, output interface not a workload's.
//
// Sets: selector sets whose members are all single addresses are hash sets, others
// interval sets; a family with no members gets no set and the rules that would need it
// are left out (a positive match cannot match, a negated one always does). The kernel
// looks sets up by name linearly and nft lists every set to add one element, so the set
// count is what makes syncs slow at scale (see bench/nft); against the real nft the
// Applier therefore adds and deletes set elements in lists, one command per set.
//
// Testing: the connectivity tables in testdata/*.table (src, dst, proto, family, port,
// verdict) run both through the packet tracer (package trace, over what the Applier put
// into knftables.Fake) in a plain go test, and as real packets between namespaces in the
// root tests, so the two cannot drift apart.
//
// Invariants:
//   - exactly one table (family inet, name configurable) is touched; the table itself is
//     never flushed or deleted;
//   - every change is one nft transaction, so the packet path sees either the old or the
//     new rules, never a mix or an empty table;
//   - stale chains and sets are deleted in the same transaction only after the rules and
//     map elements referencing them were replaced;
//   - dataplane names are derived from hashes of canonical strings, so renders are
//     deterministic and byte-stable;
//   - after any series of partial syncs the kernel equals a fresh full sync;
//   - a full sync repairs any drift: a change by anyone else moves the generation, so
//     the table is listed and every difference (a rule, a chain, an element, a set) is
//     written back;
//   - Table objects are never modified once rendered: a Renderer's later tables and the
//     Applier's applied table share them.
//
// This package must never touch another table, flush the whole ruleset, or decide
// policy: it renders exactly what policy.State says.
package nft
