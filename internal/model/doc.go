// Package model holds the resources Trellis stores and the rules for reading them.
//
// It declares the projectcalico.org/v3 kinds (field names and JSON shape identical to
// Calico's v3 API, so existing manifests decode unchanged), registers them with the
// Kubernetes kinds Trellis consumes (types from k8s.io/api, never re-declared) in the kind
// registry, and provides, as separate pure functions:
//
//   - Decode: strict YAML/JSON decoding of multi-document streams, `kind: List` and typed
//     lists (`NetworkPolicyList`); an unknown field, a field given twice with different
//     values, a value of the wrong type or an unknown apiVersion/kind is a Problem naming
//     the file, document, field path and line. A document with bad values is still returned
//     (Partial, the values dropped) so that its other fields can be validated too; it must
//     never be stored. FelixConfiguration spec fields Trellis does not honour are kept
//     verbatim and reported as warnings, as is a field repeated with the same value.
//   - SetDefaults: the defaults Calico and the Kubernetes API server apply on create.
//   - Validate: what Calico's validator and the API server check, every problem collected
//     as a field.Error with a path such as spec.ingress[0].action.
//   - Clone: a deep copy for the store.
//
// It also holds the ideas several packages share: a variable per registered kind (KindPod,
// KindWorkloadEndpoint, ...; kindvars.go) so that code never looks kinds up by string, and
// the identity labels of workload endpoints (LabelNamespace, PrefixNamespaceLabel, ...) with
// EndpointLabels, which the CNI plugin, the cluster controller and the policy calculation
// all use (labels.go).
//
// Invariants: Decode → SetDefaults → marshal → Decode gives an equal object (round trip);
// SetDefaults is idempotent; Validate never mutates its argument. SetDefaults is not named
// Default because Default is the kind registry.
//
// This package must never do I/O, log, read the clock or the environment, or import
// anything above it (store, ctl, policy, ...): every other component builds on it.
//
// Fuzzing (CI runs only the seed corpus through plain `go test`):
//
//	go test ./internal/model -run '^$' -fuzz '^FuzzDecode$' -fuzztime 2m
//	go test ./internal/model -run '^$' -fuzz '^FuzzValidate$' -fuzztime 2m
package model
