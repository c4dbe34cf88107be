package lab

import (
	"net/netip"
	"path/filepath"
)

// Kubernetes mode (lab up --kubernetes): where the real cluster's parts live.
const (
	// DefaultServiceCIDR is the kube-apiserver's --service-cluster-ip-range unless
	// --service-cidr says otherwise (the CalicoCon deck uses 10.49.0.0/16).
	DefaultServiceCIDR = "10.96.0.0/16"
	// apiPort is the API server's port on the control-plane namespace's address.
	apiPort = 6443
	// etcdClientURL is the API server's etcd, on the control-plane namespace's loopback.
	etcdClientURL = "http://127.0.0.1:2379"
	// pauseImage and trellisImage are the images lab up imports into every node.
	pauseImage   = "localhost/trellis-pause:latest"
	trellisImage = "localhost/trellis:latest"
)

// ControlPlaneNS is the namespace of the control plane (etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler) of a Kubernetes-mode lab.
func ControlPlaneNS(name string) string { return Prefix(name) + "cp" }

// controlPlaneAddr is the control plane's address on the fabric.
func controlPlaneAddr() netip.Prefix {
	base := netip.MustParsePrefix(UnderlayCIDR).Addr().As4()
	base[3] = 2
	return netip.PrefixFrom(netip.AddrFrom4(base), 24)
}

func kubeDir(name string) string { return filepath.Join(Dir(name), "kube") }

// KubeconfigPath is the lab's admin kubeconfig: the API server through the loopback
// forwarder (lab forward), usable from the machine's own network namespace.
func KubeconfigPath(name string) string { return filepath.Join(kubeDir(name), "admin.kubeconfig") }

// inClusterKubeconfig is the admin kubeconfig with the API server's fabric address, for
// processes inside the lab's namespaces.
func inClusterKubeconfig(name string) string {
	return filepath.Join(kubeDir(name), "admin-fabric.kubeconfig")
}

// nodeDir holds one node's containerd and kubelet state and the directories its private
// mount namespace shows at the paths they hard-code.
func nodeDir(name, node string) string { return filepath.Join(Dir(name), "nodes", node) }

// containerdSocket is a node's containerd socket (on the machine's file system, so that
// lab up can import images without entering the node).
func containerdSocket(name, node string) string {
	return filepath.Join(nodeDir(name, node), "containerd.sock")
}

// cgroupRoot is a node's kubelet cgroupRoot, the same path in every cgroup v1 hierarchy.
func cgroupRoot(name, node string) string { return "/" + Prefix(name) + "kube/" + node }

// cgroupLabRoot is the parent of the lab's node cgroups.
func cgroupLabRoot(name string) string { return "/" + Prefix(name) + "kube" }
