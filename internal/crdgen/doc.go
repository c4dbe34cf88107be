// Package crdgen generates the CustomResourceDefinitions in deploy/crds from the Go types
// of internal/model, using sigs.k8s.io/controller-tools (v0.23.0) as a library: schemas,
// descriptions (from doc comments), enums, ranges, CEL rules, short names, categories and
// printer columns all come from the types' doc comments and kubebuilder markers.
//
// It lives in its own module so that the main module does not depend on controller-tools.
// Regenerate with `make crds` (or `go -C internal/crdgen run ./gen`); TestCheckedIn fails
// when the checked-in files differ from what the types produce.
//
// What controller-tools cannot read from the types is said here, in one place each: the
// group and version of every kind (internal/model holds three groups, so they come from the
// kind registry, as do plural and scope), the int-or-string schemas of Calico's numorstring
// types Port, Protocol and ASNumber (Go structs with custom JSON methods; known.go), and
// nullable array items (fixups).
//
// It must never be imported by the main module, and never writes anything but deploy/crds.
package crdgen
