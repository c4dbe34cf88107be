// Package trace evaluates packets against an nftables table the way the kernel would,
// without root: it reads the table as it was applied to a knftables.Fake (chains, rules,
// sets and maps as the transaction left them, not as a renderer meant them), parses
// every rule and walks a packet through the base chains of its path.
//
// It understands the forms the Trellis dataplane emits: interface-name matches (with
// wildcards) and verdict maps keyed by interface name; address, protocol, port and ICMP
// matches, single values, prefixes, ranges, anonymous and named sets and interval sets,
// concatenated keys ("ip saddr . meta l4proto . th dport @set"); conntrack state; the
// packet mark (masked compares and "meta mark set"); counter, log, notrack; accept,
// drop, reject, jump, goto and return, with implicit returns at the end of regular
// chains and base chain policies.
//
// Invariants:
//   - an expression, statement, data type or flag it does not know is an error when
//     the table is loaded, never a guess; so is a reference to a chain or set that does
//     not exist or a lookup whose key types differ from the set's;
//   - a match on a header the packet does not have fails, whatever its operator, as
//     nft's implicit protocol dependencies make it; "th" ports on a packet without
//     ports are an error (the kernel would read whatever bytes are there);
//   - base chains of one hook with the same priority are an error (their order is
//     undefined in the kernel).
//
// It models one packet at a time: conntrack state, marks and interfaces are inputs;
// address translation (dnat, masquerade) and dynamic sets are not modelled, and rules
// using them fail to load. It must never be used to decide what the dataplane programs:
// it only checks what was programmed.
package trace
