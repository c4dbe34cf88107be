// Package ipam is Trellis's block IP address management, modelled on Calico's.
//
// An IP pool is carved into blocks (/26 for IPv4, /122 for IPv6 by default). A node claims
// blocks on demand and hands out addresses from the blocks affine to it; when it can claim
// no more (the pool is full or the node reached Config.MaxBlocksPerHost) it borrows free
// addresses from other nodes' blocks, unless Config.StrictAffinity forbids it. Every
// allocation is recorded in its block with the handle that owns it (one per container),
// free-form attributes and a per-block sequence number, and counted in the handle record so
// that a container's addresses can be released by handle.
//
// Invariants:
//   - Every write is a compare-and-swap (Store.Update with the revision that was read) or a
//     create-if-absent, retried a bounded number of times (Allocator.Retries). Two allocators
//     racing on the same block can never hand out the same address.
//   - A request's allocation or release is planned in memory from reads (a batch: the blocks
//     it changes and the handle counts to adjust) and written by one Store.Commit, all or
//     nothing, each write guarded as above; a lost race writes nothing and plans again from
//     fresh reads. Under contention a dual-stack request that lost half its retries commits
//     family by family, and ReleaseByHandle block by block, since a commit of several
//     blocks loses every race any of them would. A failed request leaves no allocation and
//     consumes no sequence number (only the blocks it claimed stay, claimed).
//   - A block is claimed in three idempotent steps: a pending affinity, the block itself
//     (carrying the node as its affinity), then the affinity confirmed. A process killed
//     between steps leaves a pending affinity that the next claim by that node completes
//     (block missing: create it; block affine to the node: confirm) or removes (the block
//     went to another node).
//   - Candidate blocks for a node are visited in a deterministic order: starting at an offset
//     derived from an FNV-1a hash of the node name, wrapping around the pool.
//   - Release by address with an expected sequence number never frees an address that was
//     released and handed out again in between; release by address with a handle only frees
//     an address owned by that handle.
//   - Addresses inside reservations are never auto-assigned; disabled pools are ignored.
//   - Dual-stack requests get both families or neither.
//   - The handle record is written with or before the block that records the allocation
//     (first in a commit; released last), so a crash between commits (contended fallback,
//     or a store without transactions) leaves a handle counting an address no block gives
//     it (found by Check, removed by DeleteHandleIfUnused), never an allocation without a
//     handle.
//
// Round trips (each a request to the datastore; an ADD waits for them): AutoAssign lists the
// node's affinities once for all families and the blocks only when the affine blocks do not
// suffice. It creates the handle record without reading it first, so a dual-stack
// assignment from affine blocks is one List, one block Get per family and one Commit (the
// handle create and both block updates): one write. A wrong guess (the handle exists)
// costs the failed commit and the read it skipped, never correctness. ReleaseByHandle is
// the handle Get, a block Get per block and one Commit.
//
// This package is part of the pure core: it must never import os, net (it uses net/netip),
// netlink or the store package, read the clock or start goroutines. The datastore is reached
// only through the Store interface declared here (see ipam/ipamstore for the adapter over
// store.Store, and MemStore for tests). Pools, reservations and configuration are inputs of
// each request, converted from the model types by the caller.
package ipam
