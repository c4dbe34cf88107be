package cni

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/cni/pkg/version"
)

// Defaults of the NetConf.
const (
	DefaultPolicyWaitTimeout = 10 * time.Second
	DefaultDatastoreTimeout  = 10 * time.Second
	PluginName               = "trellis-cni"
	IPAMPluginName           = "trellis-ipam"
)

// supportedVersions are the CNI spec versions both plugins speak.
var supportedVersions = version.PluginSupports("0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0")

// NetConf is the plugin configuration (see the package doc).
type NetConf struct {
	types.PluginConf
	DatastoreType      string   `json:"datastore_type,omitempty"`
	DatastoreEndpoints []string `json:"datastore_endpoints,omitempty"`
	Kubernetes         KubeConf `json:"kubernetes,omitempty"`
	DatastoreTimeout   string   `json:"datastore_timeout,omitempty"`
	NodeName           string   `json:"nodename,omitempty"`
	MTU                int      `json:"mtu,omitempty"`
	PolicyWait         bool     `json:"policy_wait,omitempty"`
	PolicyWaitTimeout  string   `json:"policy_wait_timeout,omitempty"`
	AgentSocket        string   `json:"agent_socket,omitempty"`
	LogFile            string   `json:"log_file_path,omitempty"`
	LogLevel           string   `json:"log_level,omitempty"`
	IPAM               IPAMConf `json:"ipam"`
	waitTimeout        time.Duration
	storeTimeout       time.Duration
}

// Datastore types of the NetConf's datastore_type.
const (
	DatastoreEtcd = "etcdv3"
	DatastoreKube = "kubernetes"
)

// KubeConf is the kubernetes section: how the plugin reaches the API server when
// datastore_type is kubernetes.
type KubeConf struct {
	Kubeconfig string `json:"kubeconfig,omitempty"`
}

// IPAMConf is the ipam section.
type IPAMConf struct {
	Type       string   `json:"type"`
	IPv4Pools  []string `json:"ipv4_pools,omitempty"`
	IPv6Pools  []string `json:"ipv6_pools,omitempty"`
	AssignIPv4 *string  `json:"assign_ipv4,omitempty"`
	AssignIPv6 *string  `json:"assign_ipv6,omitempty"`
}

// parseConf decodes stdin data, applies defaults and validates.
func parseConf(data []byte) (*NetConf, error) {
	c := &NetConf{}
	if err := json.Unmarshal(data, c); err != nil {
		return nil, types.NewError(types.ErrDecodingFailure, "decode network configuration", err.Error())
	}
	// PluginConf.IPAM is shadowed by ours; keep the type in both for libraries that read it.
	c.PluginConf.IPAM.Type = c.IPAM.Type
	if c.PolicyWaitTimeout == "" {
		c.waitTimeout = DefaultPolicyWaitTimeout
	} else {
		d, err := time.ParseDuration(c.PolicyWaitTimeout)
		if err != nil || d < 0 {
			return nil, types.NewError(types.ErrInvalidNetworkConfig, "invalid network configuration",
				fmt.Sprintf("policy_wait_timeout: invalid duration %q", c.PolicyWaitTimeout))
		}
		c.waitTimeout = d
	}
	c.storeTimeout = DefaultDatastoreTimeout
	if c.DatastoreTimeout != "" {
		d, err := time.ParseDuration(c.DatastoreTimeout)
		if err != nil || d <= 0 {
			return nil, types.NewError(types.ErrInvalidNetworkConfig, "invalid network configuration",
				fmt.Sprintf("datastore_timeout: invalid duration %q", c.DatastoreTimeout))
		}
		c.storeTimeout = d
	}
	if err := c.checkDatastore(); err != nil {
		return nil, types.NewError(types.ErrInvalidNetworkConfig, "invalid network configuration", err.Error())
	}
	if c.MTU < 0 || c.MTU > 65535 {
		return nil, types.NewError(types.ErrInvalidNetworkConfig, "invalid network configuration", fmt.Sprintf("mtu: %d out of range", c.MTU))
	}
	for _, f := range []struct {
		name string
		v    *string
	}{{"ipam.assign_ipv4", c.IPAM.AssignIPv4}, {"ipam.assign_ipv6", c.IPAM.AssignIPv6}} {
		if f.v != nil {
			if _, err := strconv.ParseBool(*f.v); err != nil {
				return nil, types.NewError(types.ErrInvalidNetworkConfig, "invalid network configuration", fmt.Sprintf("%s: %q is not a boolean", f.name, *f.v))
			}
		}
	}
	if c.RawPrevResult != nil {
		if err := version.ParsePrevResult(&c.PluginConf); err != nil {
			return nil, types.NewError(types.ErrDecodingFailure, "decode prevResult", err.Error())
		}
	}
	return c, nil
}

// checkDatastore validates datastore_type and what it needs; an empty type is etcdv3.
func (c *NetConf) checkDatastore() error {
	switch c.DatastoreType {
	case "":
		c.DatastoreType = DatastoreEtcd
	case DatastoreEtcd:
	case DatastoreKube:
		if c.Kubernetes.Kubeconfig == "" {
			return fmt.Errorf("kubernetes.kubeconfig: required with datastore_type %q (the plugin runs outside any pod)", DatastoreKube)
		}
		if c.PolicyWait && c.AgentSocket == "-" {
			return fmt.Errorf("agent_socket: \"-\" turns off the node agent socket, which policy_wait asks with datastore_type %q", DatastoreKube)
		}
	default:
		return fmt.Errorf("datastore_type: %q: use %q or %q", c.DatastoreType, DatastoreEtcd, DatastoreKube)
	}
	return nil
}

func boolOr(s *string, def bool) bool {
	if s == nil {
		return def
	}
	b, _ := strconv.ParseBool(*s)
	return b
}

// K8sArgs are the Kubernetes keys of CNI_ARGS.
type K8sArgs struct {
	types.CommonArgs
	K8S_POD_NAME               types.UnmarshallableString //nolint:revive // CNI names
	K8S_POD_NAMESPACE          types.UnmarshallableString //nolint:revive
	K8S_POD_INFRA_CONTAINER_ID types.UnmarshallableString //nolint:revive
	K8S_POD_UID                types.UnmarshallableString //nolint:revive
}

// workload identifies the container being attached.
type workload struct {
	Namespace, Pod string // Pod is empty for a non-Kubernetes workload
	ContainerID    string
	IfName         string
}

func parseArgs(containerID, ifName, args string) (workload, error) {
	k := K8sArgs{}
	k.IgnoreUnknown = true
	if err := types.LoadArgs(args, &k); err != nil {
		return workload{}, types.NewError(types.ErrInvalidEnvironmentVariables, "parse CNI_ARGS", err.Error())
	}
	w := workload{Namespace: string(k.K8S_POD_NAMESPACE), Pod: string(k.K8S_POD_NAME), ContainerID: containerID, IfName: ifName}
	if w.Namespace == "" {
		w.Namespace = "default"
	}
	return w, nil
}

// handleID is the IPAM handle of one attachment.
func handleID(network, containerID string) string { return network + "." + containerID }

// containerOfHandle returns the container ID of a handle of network, or false.
func containerOfHandle(network, handle string) (string, bool) {
	return strings.CutPrefix(handle, network+".")
}

// agentSocket is the node agent's status socket: the NetConf's, else the agent's default
// for this node. "-" turns the agent check off.
func (c *NetConf) agentSocket(node string) string {
	if c.AgentSocket != "" {
		return c.AgentSocket
	}
	return "/run/trellis/node/" + node + "/agent.sock"
}
