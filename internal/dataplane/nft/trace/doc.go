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
// chains and base chain policies. For the service proxy's chains it also follows
// "fib daddr type" and "fib saddr type" (a destination is local exactly when the
// packet is delivered to the host: an input interface and no output interface; a
// source exactly when the host sends it: no input interface), "ct status dnat", dnat (the
// destination is rewritten for the chains after it; the interfaces given describe the
// path after DNAT), masquerade (ends the chain with accept) and "update @set" (no
// effect on the packet itself); "numgen random" is an error when a packet reaches it,
// since its path is random.
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
// It models one packet at a time: conntrack state, marks and interfaces are inputs, nat
// chains see only packets in state new (and, as in the kernel, a hook's later nat chains
// are skipped once one has translated the packet), and Reply does not undo NAT. It must never be
// used to decide what the dataplane programs: it only checks what was programmed.
package trace
