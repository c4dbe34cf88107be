package lab

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
)

// Defaults.
const (
	DefaultName  = "trellis"
	RootDir      = "/run/trellis/lab"
	UnderlayCIDR = "10.99.0.0/24"
	PoolCIDR     = "10.244.0.0/16"
	PoolBlock    = 26
	// RoutingBGP and RoutingVXLAN are the --routing choices.
	RoutingBGP   = "bgp"
	RoutingVXLAN = "vxlan"
	// networkName is the CNI network name in every conflist.
	networkName = "trellis"
)

var nameRE = regexp.MustCompile(`^[a-z0-9]{1,20}$`)

// ValidateName checks a lab name: 1-20 characters a-z and 0-9 (no '-', so that the
// namespace prefix of one lab never matches another's).
func ValidateName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("invalid lab name %q: use 1-20 characters a-z and 0-9", name)
	}
	return nil
}

// Prefix starts the name of every namespace of the lab.
func Prefix(name string) string { return "trl-" + name + "-" }

// FabricNS is the namespace holding the fabric bridge.
func FabricNS(name string) string { return Prefix(name) + "fab" }

// NodeNS is the namespace of one node.
func NodeNS(name, node string) string { return Prefix(name) + node }

// PodNS is the namespace of one pod.
func PodNS(name, namespace, pod string) string {
	sum := sha1.Sum([]byte(namespace + "/" + pod))
	return Prefix(name) + "p" + hex.EncodeToString(sum[:])[:10]
}

// NodeName is the name of the i-th node (from 1).
func NodeName(i int) string { return fmt.Sprintf("node%d", i) }

// Dir is the lab's state directory.
func Dir(name string) string { return filepath.Join(RootDir, name) }

// SocketPath is the lab datastore's unix socket.
func SocketPath(name string) string { return filepath.Join(Dir(name), "datastore.sock") }

// Endpoint is the lab datastore's client URL.
func Endpoint(name string) string { return "unix://" + SocketPath(name) }

func agentSocket(name, node string) string {
	return filepath.Join(Dir(name), "agent-"+node+".sock")
}
func statePath(name string) string  { return filepath.Join(Dir(name), "state.json") }
func logDir(name string) string     { return filepath.Join(Dir(name), "logs") }
func cniBinDir(name string) string  { return filepath.Join(Dir(name), "cni", "bin") }
func cniConfDir(name string) string { return filepath.Join(Dir(name), "cni", "net.d") }
func cniCacheDir(name string) string {
	return filepath.Join(Dir(name), "cni", "cache")
}
func conflistPath(name, node string) string {
	return filepath.Join(cniConfDir(name), node+".conflist")
}
func currentPath() string { return filepath.Join(RootDir, "current") }

// podLogPath is the log of one container of a pod.
func podLogPath(name, namespace, pod, container string) string {
	return filepath.Join(logDir(name), "pods", namespace+"_"+pod+"_"+container+".log")
}

// isLabNS reports whether a namespace name belongs to the lab.
func isLabNS(name, ns string) bool { return strings.HasPrefix(ns, Prefix(name)) }

// The etcd-mode lab's agents log flows to NFLOG group FlowLogGroup and aggregate them
// every FlowInterval (short, so that `trellis lab flows` shows a probe within seconds).
const (
	FlowLogGroup = "20"
	FlowInterval = "2s"
)
