// Package demo holds the test workloads the lab's pods run from the trellis binary:
// an HTTP server that answers GET / with the pod's host name and the address it was
// reached on, and a UDP echo server.
//
// Invariants: they listen only on the port they are given, in the network namespace they
// run in, and stop when their context ends. They must never open outbound connections.
package demo
