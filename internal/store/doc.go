// Package store is Trellis's datastore contract: the Store interface every component reads
// and writes resources through, its sentinel errors, and the small amount of object handling
// (keys, JSON encoding, server-managed metadata) that every backend shares.
//
// Backends live in sub-packages so that this package stays free of their dependencies:
//   - store/memory: in-memory, for unit tests of the layers above;
//   - store/etcd: etcd v3 (a single embedded server or a real cluster), with TLS;
//   - store/kube: a Kubernetes API server (built-in resources and deploy/crds);
//   - store/embed: runs an embedded etcd server (`trellis datastore run`);
//   - store/storetest: the conformance suite every backend passes.
//
// Opening a store: cmd/trellis calls etcd.New(store.Config) or kube.New(store.Config) (the
// latter is not wired to a flag yet). There is deliberately no store.Open here, because the
// backends import this package; cmd picks between the constructors.
//
// Invariants: revisions and resourceVersions are opaque strings above the backends; objects
// returned are copies the caller owns; errors wrap the sentinels (ErrNotFound,
// ErrAlreadyExists, ErrConflict, ErrUnavailable) and name the operation and object, so
// nothing above a backend parses error text. This package must never import a backend, nor
// know about etcd keys, leases or revisions.
package store
