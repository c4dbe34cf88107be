// Package storetest is the conformance suite every store.Store backend passes: CRUD and
// server-managed metadata, List filtering and order, compare-and-swap conflicts, delete
// preconditions, ordered Watch with resume and resync after compaction (for a watch of every
// kind, ordered per kind), concurrent writers, and Apply transactions (mixed kinds and ops;
// one failed precondition writes nothing and names its op; a watch sees the writes in op
// order at one revision; concurrent two-object transactions lose no increment). Its objects
// are ones a Kubernetes API server accepts as well, and a deletion mark before a delete
// (Kubernetes' deletionTimestamp on a pod) is allowed. Backends call Run from their own
// tests with a constructor of empty stores.
//
// The suite sees the store only through store.Store (and the optional Compacter); it must
// never depend on a backend's revision format, keys or error text beyond the object names
// that every error message must contain.
package storetest
