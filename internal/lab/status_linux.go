package lab

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/trellisnet/trellis/internal/agent/agentapi"
	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/netns"
	"github.com/trellisnet/trellis/internal/store"
)

// Report is what `lab status` shows.
type Report struct {
	Name       string     `json:"name"`
	Routing    string     `json:"routing"`
	Datastore  ProcReport `json:"datastore"`
	Controller ProcReport `json:"controller"`
	// Supervisor restarts the datastore and the controller when they exit.
	Supervisor ProcReport   `json:"supervisor"`
	Nodes      []NodeReport `json:"nodes"`
	Pods       []PodReport  `json:"pods"`
	PodsError  string       `json:"podsError,omitempty"`
	// Externals are the hosts outside the cluster on the fabric.
	Externals []ExternalReport `json:"externals,omitempty"`
	// Kube is the control plane of a Kubernetes-mode lab (then Datastore is the API
	// server, and Controller and Supervisor are unused: Trellis runs from its manifests).
	Kube *KubeReport `json:"kube,omitempty"`
}

// ExternalReport is one external host and, when it runs BIRD, its protocols.
type ExternalReport struct {
	Name        string           `json:"name"`
	Namespace   string           `json:"namespace"`
	Address     string           `json:"address"`
	RouterPID   int              `json:"routerPID,omitempty"`
	RouterAlive bool             `json:"routerAlive,omitempty"`
	Protocols   []RouterProtocol `json:"protocols,omitempty"`
	RouterError string           `json:"routerError,omitempty"`
}

// ProcReport is one process of the lab.
type ProcReport struct {
	PID   int  `json:"pid"`
	Alive bool `json:"alive"`
	// Restarts counts the supervisor's restarts of the process.
	Restarts int `json:"restarts,omitempty"`
}

// NodeReport is one node and its agent.
type NodeReport struct {
	Name       string `json:"name"`
	Namespace  string `json:"namespace"`
	Address    string `json:"address"`
	AgentPID   int    `json:"agentPID"`
	AgentAlive bool   `json:"agentAlive"`
	AgentReady bool   `json:"agentReady"`
	// RuntimePID runs the node's containerd and kubelet in Kubernetes mode.
	RuntimePID   int  `json:"runtimePID,omitempty"`
	RuntimeAlive bool `json:"runtimeAlive,omitempty"`
	// BGPPeers are the sessions of the node's BGP speaker, from its agent's status.
	BGPPeers []agentapi.BGPPeer `json:"bgpPeers,omitempty"`
}

// PodReport is one pod as the store shows it.
type PodReport struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Node      string `json:"node"`
	IP        string `json:"ip"`
	Phase     string `json:"phase"`
	Ready     bool   `json:"ready"`
	Restarts  int32  `json:"restarts"`
}

func (r Report) healthy() bool {
	if r.Kube != nil {
		return r.kubeHealthy()
	}
	if !r.Datastore.Alive || !r.Controller.Alive || !r.Supervisor.Alive || len(r.Nodes) == 0 {
		return false
	}
	for _, n := range r.Nodes {
		if !n.AgentAlive || !n.AgentReady {
			return false
		}
	}
	return true
}

// Healthy reports whether every process of the lab is alive and every agent ready.
func (r Report) Healthy() bool { return r.healthy() }

// Status reports on the named lab; the error wraps fs.ErrNotExist when it is not up.
func Status(ctx context.Context, name string) (Report, error) {
	if err := ValidateName(name); err != nil {
		return Report{}, err
	}
	st, err := LoadState(name)
	if err != nil {
		return Report{}, fmt.Errorf("lab %s is not up: %w", name, err)
	}
	return status(ctx, st, true), nil
}

func status(ctx context.Context, st *State, withPods bool) Report {
	r := Report{Name: st.Name, Routing: st.Routing,
		Datastore: ProcReport{PID: st.DatastorePID, Alive: alive(st.DatastorePID) && isLabProcess(st.Name, st.DatastorePID),
			Restarts: st.DatastoreRestarts},
		Controller: ProcReport{PID: st.ControllerPID, Alive: alive(st.ControllerPID) && isLabProcess(st.Name, st.ControllerPID),
			Restarts: st.ControllerRestarts},
		Supervisor: ProcReport{PID: st.SupervisorPID, Alive: alive(st.SupervisorPID) && isLabProcess(st.Name, st.SupervisorPID)},
		Nodes:      []NodeReport{}, Pods: []PodReport{}}
	for _, n := range st.Nodes {
		if st.Kube != nil {
			kubeStatus(ctx, st, &r, withPods)
			break
		}
		nr := NodeReport{Name: n.Name, Namespace: n.Namespace, Address: n.Address, AgentPID: n.AgentPID,
			AgentAlive: alive(n.AgentPID) && isLabProcess(st.Name, n.AgentPID) && netns.Exists(n.Namespace)}
		if nr.AgentAlive {
			nr.AgentReady = agentReady(ctx, n.Socket)
			if withPods {
				nr.BGPPeers = agentPeers(ctx, n.Socket)
			}
		}
		r.Nodes = append(r.Nodes, nr)
	}
	if withPods {
		r.Externals = externalReports(ctx, st)
	}
	if withPods && r.Datastore.Alive {
		pods, err := listPods(ctx, st.Name)
		if err != nil {
			r.PodsError = err.Error()
		}
		for _, p := range pods {
			pr := PodReport{Namespace: p.Namespace, Name: p.Name, Node: p.Spec.NodeName, IP: p.Status.PodIP, Phase: string(p.Status.Phase)}
			for _, cs := range p.Status.ContainerStatuses {
				pr.Restarts += cs.RestartCount
			}
			for _, c := range p.Status.Conditions {
				if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
					pr.Ready = true
				}
			}
			r.Pods = append(r.Pods, pr)
		}
	}
	return r
}

func listPods(ctx context.Context, name string) ([]*corev1.Pod, error) {
	s, err := OpenStore(name)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	res, err := s.List(ctx, podKind(), store.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list pods: %w", err)
	}
	var out []*corev1.Pod
	for _, o := range res.Items {
		if p, ok := o.(*corev1.Pod); ok {
			out = append(out, p)
		}
	}
	return out, nil
}

func podKind() *model.Kind {
	k := model.KindPod
	return k
}

func netnsDelete(ns string) error { return netns.Delete(ns) }

// conflist is the network configuration list a node's runtime would read.
type conflist struct {
	CNIVersion string           `json:"cniVersion"`
	Name       string           `json:"name"`
	Plugins    []map[string]any `json:"plugins"`
}

func writeConflists(cfg Config, st *State) error {
	mtu := 1500
	if cfg.Routing == RoutingVXLAN {
		mtu = 1450
	}
	for _, n := range st.Nodes {
		cl := conflist{CNIVersion: "1.1.0", Name: networkName, Plugins: []map[string]any{{
			"type":                "trellis-cni",
			"datastore_endpoints": []string{Endpoint(cfg.Name)},
			"nodename":            n.Name,
			"mtu":                 mtu,
			"policy_wait":         true,
			"policy_wait_timeout": "20s",
			"agent_socket":        n.Socket,
			"log_file_path":       agentLog(cfg.Name, n.Name+"-cni"),
			"log_level":           "info",
			"ipam":                ipamConf(cfg.IPv6),
		}}}
		data, err := json.MarshalIndent(cl, "", "  ")
		if err != nil {
			return fmt.Errorf("encode conflist of %s: %w", n.Name, err)
		}
		if err := os.WriteFile(conflistPath(cfg.Name, n.Name), append(data, '\n'), 0o644); err != nil {
			return fmt.Errorf("write conflist of %s: %w", n.Name, err)
		}
	}
	return nil
}

// agentPeers asks an agent's status socket for its BGP sessions.
func agentPeers(ctx context.Context, sock string) []agentapi.BGPPeer {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	s, err := agentapi.NewClient(sock).Status(ctx)
	if err != nil {
		return nil
	}
	return s.BGPPeers
}

// externalReports describes the external hosts; a router's protocols come from birdc.
func externalReports(ctx context.Context, st *State) []ExternalReport {
	var out []ExternalReport
	for _, e := range st.Externals {
		er := ExternalReport{Name: e.Name, Namespace: e.Namespace, Address: e.Address}
		if e.Router != nil {
			er.RouterPID = e.Router.PID
			er.RouterAlive = alive(e.Router.PID)
			if er.RouterAlive {
				text, err := birdc(ctx, e.Router.Socket, "show", "protocols")
				if err != nil {
					er.RouterError = err.Error()
				} else {
					er.Protocols = parseBirdProtocols(text)
				}
			}
		}
		out = append(out, er)
	}
	return out
}

// ipamConf is the conflist's IPAM section: IPv4, plus IPv6 in a dual-stack lab.
func ipamConf(ipv6 bool) map[string]any {
	c := map[string]any{"type": "trellis-ipam"}
	if ipv6 {
		c["assign_ipv4"], c["assign_ipv6"] = "true", "true"
	}
	return c
}
