// Package netns is the one place in Trellis that switches network namespaces.
//
// Linux network namespaces belong to OS threads, while Go schedules goroutines over
// threads freely. Do locks the calling goroutine to its thread, enters the target
// namespace, runs the function and restores the original namespace before unlocking. If
// the original namespace cannot be restored the thread stays locked, so the Go runtime
// discards it when the goroutine ends instead of reusing a thread in the wrong namespace.
//
// Invariants:
//   - every switch goes through Do; no other package calls setns(2);
//   - a socket opened inside Do stays bound to the namespace it was opened in, so it can
//     be read and written from any goroutine afterwards (this is how tests run listeners
//     and clients in "pod" namespaces in-process);
//   - a process started with os/exec inside Do inherits the namespace (the fork happens on
//     the locked thread), which is how nft is run against a namespace's tables;
//   - goroutines started inside fn do NOT inherit the namespace.
//
// Create and Delete manage named namespaces bound under /run/netns, compatible with
// `ip netns`. This package must never delete a namespace it is not told to by name.
package netns
