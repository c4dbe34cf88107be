// Package etcd is the etcd v3 backend of store.Store, used both against the embedded server
// (`trellis datastore run`, store/embed) and against a real etcd cluster.
//
// Layout: one key per object, /trellis/<resource>/<namespace>/<name> for namespaced kinds and
// /trellis/<resource>/<name> for cluster-scoped ones (resource is model.Kind.StorageName(), e.g. pods.core); the
// value is the object's JSON without resourceVersion. An object's resourceVersion is the
// key's etcd mod revision as a decimal string, and Watch/List revisions are etcd store
// revisions.
//
// Every write is a single-key transaction guarded by the key's create or mod revision, so
// compare-and-swap needs no locks and two concurrent writers of one object cannot both win.
// Update and Delete read the old state first (for uid, creationTimestamp, generation and
// the returned object), except when guarded by a resourceVersion whose value this client
// read or wrote last: a bounded per-client cache keyed by mod revision then serves it, so
// the common read-modify-write costs two round trips, not three. The cache is a hint only:
// a stale entry makes the guarded write fail and the old path run.
//
// Apply is one etcd Txn: a compare per op (create revision 0 for Create, the mod revision
// read for Update and Delete), the writes as the success branch, a read of every key as the
// failure branch (to name the failed op). All writes get the Txn's revision. Updates and
// deletes prepare from the same cache; ops without a resourceVersion precondition that lose
// a race are prepared again. etcd bounds a Txn to --max-txn-ops (128 by default) ops.
// Watches use etcd's own resumption (the client re-establishes streams from the last
// delivered revision); when that is impossible (compaction, cancellation by the server, loss
// of leader) the watch ends with store.EventResync. Known limit: while none of the
// configured endpoints can be reached, a watch waits (no events, no resync) and resumes
// when one comes back; list every member of a cluster in Config.Endpoints.
//
// Invariants: nothing outside this package sees keys, leases or etcd revisions as such; etcd
// and gRPC errors are mapped to the store sentinels here (ErrUnavailable for a down or
// leaderless cluster), so callers never parse error text. New does no I/O besides creating
// the client, which dials lazily.
package etcd
