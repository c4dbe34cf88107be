// Package memory is an in-memory store.Store for unit tests of the layers above the store.
//
// It keeps each object's JSON (so callers never share memory with it), a revision counter and
// a bounded log of past events, so that a Watch from an older revision replays history and a
// Watch from a revision no longer in the log (or before Compact) yields EventResync. It passes
// the same conformance suite (store/storetest) as the etcd backend. An Apply is checked and
// committed under the store's one lock, at one revision; history is trimmed by whole
// revisions, so it never holds part of a transaction.
//
// It must never be used for anything durable: everything is lost when the process ends.
package memory
