package lab

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/trellisnet/trellis/internal/store"
	"github.com/trellisnet/trellis/internal/store/etcd"
	"github.com/trellisnet/trellis/internal/store/kube"
)

// State is what state.json records about a running lab.
type State struct {
	Name    string      `json:"name"`
	Routing string      `json:"routing"`
	Binary  string      `json:"binary"`
	Nodes   []NodeState `json:"nodes"`
	// DatastorePID and ControllerPID are the root-namespace processes; SupervisorPID
	// restarts them when they exit (lab supervise), counting in the Restarts fields.
	DatastorePID       int `json:"datastorePID"`
	ControllerPID      int `json:"controllerPID"`
	SupervisorPID      int `json:"supervisorPID,omitempty"`
	DatastoreRestarts  int `json:"datastoreRestarts,omitempty"`
	ControllerRestarts int `json:"controllerRestarts,omitempty"`
	// LogLevel is the --log-level of the lab's processes (restarted ones too).
	LogLevel string `json:"logLevel,omitempty"`
	// IPv6: nodes also have IPv6 underlay addresses and pods IPv6 addresses (lab up --ipv6).
	IPv6 bool `json:"ipv6,omitempty"`
	// Externals are hosts outside the cluster on the fabric (lab external add).
	Externals []External `json:"externals,omitempty"`
	// Kube is set in a Kubernetes-mode lab (lab up --kubernetes).
	Kube *KubeState `json:"kube,omitempty"`
}

// NodeState is one node of the lab.
type NodeState struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	// Address is the underlay address with its prefix length (10.99.0.11/24).
	Address  string `json:"address"`
	AgentPID int    `json:"agentPID"`
	Socket   string `json:"agentSocket"`
	// RuntimePID is the node's lab node-runtime (containerd and kubelet) in Kubernetes mode.
	RuntimePID int `json:"runtimePID,omitempty"`
}

// Node returns the named node.
func (s *State) Node(name string) (NodeState, bool) {
	for _, n := range s.Nodes {
		if n.Name == name {
			return n, true
		}
	}
	return NodeState{}, false
}

// LoadState reads state.json of the named lab; fs.ErrNotExist when the lab is not up.
func LoadState(name string) (*State, error) {
	data, err := os.ReadFile(statePath(name))
	if err != nil {
		return nil, fmt.Errorf("read lab state %s: %w", statePath(name), err)
	}
	var s State
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("decode lab state %s: %w", statePath(name), err)
	}
	return &s, nil
}

func saveState(s *State) error {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("encode lab state: %w", err)
	}
	tmp := statePath(s.Name) + ".tmp"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("write lab state: %w", err)
	}
	if err := os.Rename(tmp, statePath(s.Name)); err != nil {
		return fmt.Errorf("write lab state: %w", err)
	}
	return nil
}

// isKubeLab reports whether the named lab runs in Kubernetes mode.
func isKubeLab(name string) bool {
	st, err := LoadState(name)
	return err == nil && st.Kube != nil
}

// Current returns the name of the lab `lab up` started last, if it is still there.
func Current() (string, bool) {
	data, err := os.ReadFile(currentPath())
	if err != nil {
		return "", false
	}
	name := strings.TrimSpace(string(data))
	if ValidateName(name) != nil {
		return "", false
	}
	if _, err := os.Stat(statePath(name)); err != nil {
		return "", false
	}
	return name, true
}

// DefaultEndpoint is the datastore client URL of the current lab (see Current), for the
// CLI's default --datastore-endpoints; false when no lab is up.
func DefaultEndpoint() (string, bool) {
	name, ok := Current()
	if !ok {
		return "", false
	}
	return Endpoint(name), true
}

// ResolveName returns name when given, else the current lab, else DefaultName.
func ResolveName(name string) string {
	if name != "" {
		return name
	}
	if cur, ok := Current(); ok {
		return cur
	}
	return DefaultName
}

// OpenStore connects to the named lab's datastore: its etcd, or in Kubernetes mode its
// API server (through the loopback forwarder).
func OpenStore(name string) (store.Store, error) {
	if isKubeLab(name) {
		st, err := kube.New(store.Config{Kubeconfig: KubeconfigPath(name)})
		if err != nil {
			return nil, fmt.Errorf("connect to lab %s API server: %w", name, err)
		}
		return st, nil
	}
	if _, err := os.Stat(SocketPath(name)); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("connect to lab %s datastore: no socket at %s (is the lab up?): %w", name, SocketPath(name), store.ErrUnavailable)
		}
		return nil, fmt.Errorf("connect to lab %s datastore: %w", name, err)
	}
	st, err := etcd.New(store.Config{Endpoints: []string{Endpoint(name)}})
	if err != nil {
		return nil, fmt.Errorf("connect to lab %s datastore: %w", name, err)
	}
	return st, nil
}
