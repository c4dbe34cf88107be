// Package connectivity answers "may this pod reach that one?" from the calculation, and
// holds the one connectivity matrix row shared by `trellis policy matrix`, `trellis lab
// matrix` (real packets) and their comparison (`--compare`).
//
// A Scenario is a what-if: resources (from manifests or a datastore listing) turned into a
// policy.State plus the pods that can be named "ns/pod". Trace explains one connection;
// Matrix gives every ordered pair's verdict; Compare lists the pairs where probed packets
// and the calculation disagree.
//
// Invariants: a Row without a family has the JSON shape of `policy matrix -o json`; a pod
// with itself is never compared (its packets never leave its namespace); a pair without
// addresses of the asked family has the verdict "unknown".
//
// It must never do I/O of its own: no files, sockets, clock or goroutines. Listing a
// datastore goes through the store.Store it is handed.
package connectivity
