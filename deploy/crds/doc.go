// Package crds holds the CustomResourceDefinitions that serve Trellis's kinds from a
// Kubernetes API server: the projectcalico.org/v3 kinds (GlobalNetworkPolicy, IPPool, ...)
// and Trellis's own bookkeeping kinds (ipam.trellis.dev/v1 IPAMBlock, BlockAffinity,
// IPAMHandle; trellis.dev/v1 EndpointStatus), one `<group>_<plural>.yaml` file each, embedded
// in FS.
//
// The YAML files are generated from the Go types in internal/model, their doc comments and
// kubebuilder markers, by internal/crdgen (sigs.k8s.io/controller-tools as a library, in its
// own module so that the main module does not depend on it):
//
//	make crds        # or: go -C internal/crdgen run ./gen
//
// Invariants: every kind whose Go type internal/model declares has exactly one file here
// (crds_test.go), and the files are exactly what the generator produces from the current
// types (internal/crdgen's TestCheckedIn). These files must never be edited by hand.
//
// The IPAM kinds keep Trellis's own group and shapes rather than Calico's
// crd.projectcalico.org/v1 IPAMBlock/BlockAffinity/IPAMHandle: their fields differ from
// Calico's (handleID, not handle_id; no strictAffinity or deleted), so claiming Calico's
// group would promise a compatibility Trellis does not have and would collide with the CRDs
// of a Calico installation in the same cluster.
package crds
