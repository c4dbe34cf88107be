// Package npapi pins network-policy-api v0.3.0 so that scripts/conformance.sh can run its
// conformance package, unmodified, with `go test sigs.k8s.io/network-policy-api/conformance`
// from this module against a lab's API server (the cnp suite, docs/conformance.md).
//
// It is its own module so that the suite's dependencies (controller-runtime, client-go
// v0.36, testify) stay out of Trellis's go.mod. It holds no test code of its own: tools.go
// imports the packages the upstream test imports, so that go.sum covers them; junit/ turns
// `go test -json` output into a JUnit report.
package npapi
