// Package demo holds the test workloads the lab's pods run from the trellis binary:
// an HTTP server that answers GET / with the pod's host name and the address it was
// reached on, a UDP echo server, the three tiers of YAOBank (customer, summary,
// database), the CalicoCon sample application, and the pod's own clients: fetch (curl)
// and lookup (dig).
//
// Invariants: they listen only on the port they are given, in the network namespace they
// run in, and stop when their context ends. The only outbound connections are YAOBank's
// calls to the next tier, to the URL given on its command line, with a short timeout, and
// fetch and lookup, to what their caller names. They must never connect anywhere else.
package demo
