// Command gen writes the generated CRDs to deploy/crds (see package crdgen) and removes
// generated files no kind produces any more. Run it from internal/crdgen:
//
//	go -C internal/crdgen run ./gen [-root ../..] [-out DIR]
package main
