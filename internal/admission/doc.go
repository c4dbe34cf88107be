// Package admission is Trellis's admission webhook for a Kubernetes API server that serves
// the projectcalico.org/v3 CRDs: what the CRD schemas and their CEL rules cannot check
// (selector syntax, cross-field rules, references such as "the tier exists", overlapping
// pools, deleting a tier that still has policies) is checked here by the same code
// `trellis validate` and `trellis apply` run: model.Decode, model.SetDefaults,
// model.Validate and refcheck. A refusal names the field path and the reason, exactly as
// `trellis validate` words it without its file and document prefix.
//
// The mutating endpoint applies Calico's defaults (model.SetDefaults) as a JSON patch of
// spec, so a defaulted object is what the validating endpoint and the datastore see.
//
// With Reviewer.Metrics set, every answered review is counted by webhook, kind, operation
// and verdict, and timed (the controllers serve them on their --health-addr).
//
// Invariants: a request it cannot decode is refused, never allowed (failurePolicy Fail on
// the server side covers the webhook being down); it only reads the datastore.
package admission
