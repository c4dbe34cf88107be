// Package ipmath is address arithmetic on net/netip values: the n-th address or subnet of a
// prefix, an address's index in a prefix, the distance between two addresses and the size
// of a prefix, over the full 128 bits of IPv6.
//
// IPAM (the ordinals of a block, the n-th block of a pool) and the cluster controller (the
// n-th address of a service range) share it, so 128-bit carry and shift logic exists once.
//
// Invariants: every function is pure and total. A result that does not fit (an address
// past the last one of its family, a size or distance of 2^64 or more, an index outside the
// prefix) is reported with ok == false and a zero value, never wrapped around. IPv4
// addresses stay IPv4 (32-bit arithmetic); IPv4-mapped IPv6 addresses are IPv6 values.
// Results carry no IPv6 zone.
//
// This package must never import anything outside the standard library, do I/O, read the
// clock or start goroutines (the pure core's rules, checked by its tests).
package ipmath
