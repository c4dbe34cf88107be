// Package ipamstore adapts store.Store to the ipam core: it implements ipam.Store over the
// internal kinds IPAMBlock, BlockAffinity and IPAMHandle (group ipam.trellis.dev), and turns
// the Calico IPPool, IPReservation and IPAMConfiguration resources into the core's inputs.
// Check runs the core's leak check against WorkloadEndpoints and Nodes in the store (an
// allocation is held while an endpoint shows its address for the container and pod it
// names: Workloads.Holds), and Collector releases leaks Check has reported for a grace
// period (for the agent or the controllers' ipamgc loop to Run).
//
// Invariants: every write goes through store.Store Create, Update with the revision that was
// read, or Delete with a resourceVersion precondition, alone or as one op of a store.Apply
// (Commit: the core's writes of one request in one transaction, in the core's order); a
// Kubernetes-API backend without transactions would implement Commit as ordered single
// writes, each still guarded, giving up only the all-or-nothing. Store errors keep their message and
// also match the ipam sentinels (ErrNotFound, ErrAlreadyExists, ErrConflict) with errors.Is.
//
// Load reads its three inputs concurrently, since a CNI ADD waits for them.
//
// It must never decide anything about allocation: that is the ipam core's job.
package ipamstore
