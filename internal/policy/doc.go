// Package policy is Trellis's policy engine: the identity model, the label index, the tiered
// calculation of a node's desired policy state, the conversion of Kubernetes NetworkPolicy and
// ClusterNetworkPolicy into Calico policy, and Trace, which explains a verdict.
//
// Inputs (input.go) are converted from stored resources (convert.go, k8s.go). A Calculator
// accepts them one by one (Update/Delete) in any order; State materialises the output
// (state.go): sorted, comparable with go-cmp, with a canonical text form (String) that goldens,
// logs and trace share. Compute is the from-scratch path: a fresh Calculator fed everything.
//
// Invariants:
//   - State depends only on the current inputs: after any sequence of updates it equals
//     Compute over the final inputs (tested with shuffled, reversed and squashed sequences).
//   - Fail closed: an unknown tier puts its policies first with no rules (end-of-tier deny);
//     a policy selector that does not parse selects everything in its scope with no rules;
//     a rule that does not compile becomes an unconditional deny at its index; a profile that
//     does not exist decides nothing (the chain ends in deny).
//   - IP set IDs are hashes of the canonical expression they are formed from.
//   - Staged policies are never enforced. Options.Staged computes the staged view instead
//     (what enforcing them would do: a staged Set policy replaces the enforced one of its
//     name, a staged Delete removes it), for the pending verdicts of flow logs.
//
// Identity model: a workload endpoint carries its own labels plus projectcalico.org/namespace,
// projectcalico.org/orchestrator and projectcalico.org/serviceaccount, and inherits its
// namespace's labels as pcns.<key> (profile kns.<ns>) and its service account's as pcsa.<key>
// (profile ksa.<ns>.<sa>). A namespace label change evaluates each namespace selector that
// reads a changed key once against the namespace and touches only the members of the
// expressions whose answer flipped (nsindex.go); members whose pcns.* labels do not come
// from their namespace alone are re-evaluated in full. A namespaced policy's rule selectors
// are scoped to its namespace unless the rule has a namespaceSelector (all(): any namespaced
// member; global(): only non-namespaced ones); notSelector is never scoped. Network sets are members of rule sets but
// never enforcement points.
//
// ClusterNetworkPolicy (cnp.go) is converted as Calico 3.32 does: a global policy
// kcnp.kube-admin.<name> or kcnp.kube-baseline.<name> in tier kube-admin (order 1000) or
// kube-baseline (order 10,000,000), both built in with defaultAction Pass, the priority as
// its order (so Calico policies placed in those tiers interleave by order), Accept/Deny/Pass
// as allow/deny/pass, and only in the directions it has rules for. The upstream order of
// evaluation then falls out of the tier model: a tier applies to an endpoint only when one
// of its policies selects it in that direction, and the default tier ends in deny, so the
// Baseline tier decides only for pods (per direction) that no NetworkPolicy selects; what no
// tier decides reaches the namespace profile, which allows. Converted rules keep their
// source rule's index and name (RuleOrigin) for trace. A Kubernetes Node's addresses are a
// network set that only selectors naming model.LabelKubernetesNode see (the experimental
// egress nodes peer).
//
// This package must never do I/O, read the clock, start goroutines, log, or import os, net,
// netlink or nftables: it returns data.
package policy
