// Package install is `trellis cni install`, the node agent DaemonSet's init container: it
// puts the running binary on the host as the CNI plugins (trellis, trellis-cni and
// trellis-ipam in the CNI bin directory), a kubeconfig with which the plugins reach the API
// server as their own service account, and the network configuration list
// 10-trellis.conflist that names them, chaining the reference portmap plugin (hostPort)
// when the host's CNI bin directory has it.
//
// Invariants: every file is written to a temporary name in its final directory and
// renamed, so the container runtime never sees half a plugin or half a configuration;
// running it again with the same inputs leaves the same files (idempotent); the kubeconfig
// holds a credential and is mode 0600.
//
// It must never remove another plugin's files or configuration.
package install
