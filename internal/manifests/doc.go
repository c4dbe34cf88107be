// Package manifests renders what a user applies to install Trellis on a Kubernetes
// cluster (`trellis manifests`, checked in as deploy/trellis.yaml): the namespace, every
// CRD of deploy/crds, least-privilege RBAC per component, the node agent DaemonSet (with
// the init container that installs the CNI plugin), the controllers Deployment with its
// admission webhook, the cluster DNS and the default IPPool.
//
// Every object is a typed value (k8s.io/api, or internal/model for the Calico kinds)
// marshalled to YAML; nothing is a text template. Each document carries a comment saying
// why it is there, and each RBAC rule one saying which code needs it.
//
// Invariants: the output is a pure function of Options (no clock, no environment, no
// I/O), byte-stable, in apply order (CRDs before the objects of their kinds, the default
// IPPool before the webhook configurations that would otherwise refuse it while the
// controllers are not running yet).
//
// It must never emit a rule, mount or privilege the code does not need: a change of what a
// component reads or writes changes its rule table in rbac.go, and the RBAC test against
// a real API server.
package manifests
