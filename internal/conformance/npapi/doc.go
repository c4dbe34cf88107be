// Package npapi pins network-policy-api v0.3.0 so that scripts/conformance.sh can run its
// conformance tests, unmodified, against a lab's API server (the cnp suite,
// docs/conformance.md).
//
// It is its own module so that the suite's dependencies (controller-runtime, client-go
// v0.36, testify) stay out of Trellis's go.mod. TestTrellisProfile (profile_test.go) is
// the driver: upstream's TestConformanceProfiles, same flags, plus the suite's own
// SkipTests option (--trellis.skip-tests), so that the tests this kernel cannot run are
// listed as skipped in the conformance report (NPEP-137), not as passed. tools.go imports
// the packages the upstream tests import, so that go.sum covers them; junit/ turns
// `go test -json` output into a JUnit report.
package npapi
