package agentapi

import "path/filepath"

const (
	// DefaultSocketDir holds one directory per node with its agent's status socket.
	DefaultSocketDir = "/run/trellis/node"
	// Disabled turns off the agent's HealthAddr or StatusSocket.
	Disabled = "none"
	// DefaultHealthAddr is the agent's default health, metrics, status and flow address.
	DefaultHealthAddr = "127.0.0.1:9099"
)

// SocketPath is the default status socket of a node.
func SocketPath(node string) string {
	return filepath.Join(DefaultSocketDir, node, "agent.sock")
}

// TunnelHandle is the IPAM handle of a node's VXLAN tunnel address (as in Calico).
func TunnelHandle(node string) string { return "vxlan-tunnel-addr-" + node }
