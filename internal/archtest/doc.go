// Package archtest checks the architecture rules of STYLE.md that a package's own tests
// enforce: a pure-core package's non-test files import none of a forbidden list (or only
// the standard library), start no goroutines and do not read the clock.
//
// It is test support: only _test.go files import it. It reads Go source as text through
// go/parser and never builds, runs or changes the code it checks.
//
// Invariants: a directory with no non-test Go file is an error (a check that sees nothing
// must not pass); every violation is reported, not only the first.
package archtest
