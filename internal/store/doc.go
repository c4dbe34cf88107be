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
// Opening a store: cmd/trellis calls etcd.New(store.Config) or kube.New(store.Config)
// (--datastore-type). A backend that keeps Calico's Kubernetes data model (endpoints derived
// from Pods) says so with the Derived capability; components ask DerivedEndpoints(st). There is deliberately no store.Open here, because the
// backends import this package; cmd picks between the constructors.
//
// Transactions: Store.Apply writes several objects all-or-nothing, each op with the
// preconditions of its single write, under one revision; a failed op is named by an
// *OpError and nothing is written. etcd does it in one Txn; the Kubernetes API has no
// multi-object transaction, so that backend would fall back to ordered single writes with
// compensation, and callers needing atomicity (IPAM) keep per-object compare-and-swap there.
//
// Invariants: revisions and resourceVersions are opaque strings above the backends; objects
// returned are copies the caller owns; errors wrap the sentinels (ErrNotFound,
// ErrAlreadyExists, ErrConflict, ErrUnavailable) and name the operation and object, so
// nothing above a backend parses error text. This package must never import a backend, nor
// know about etcd keys, leases or revisions.
package store
