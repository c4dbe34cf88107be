package lab

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/trellisnet/trellis/internal/agent/agentapi"
	"github.com/trellisnet/trellis/internal/netns"
)

// KubeReport is what lab status adds for a Kubernetes-mode lab: the control plane's
// processes and the loopback forwarder.
type KubeReport struct {
	Etcd              ProcReport `json:"etcd"`
	APIServer         ProcReport `json:"apiServer"`
	ControllerManager ProcReport `json:"controllerManager"`
	Scheduler         ProcReport `json:"scheduler"`
	Forwarder         ProcReport `json:"forwarder"`
	// ForwardPort is the machine's loopback port of the API server (the admin kubeconfig's).
	ForwardPort int    `json:"forwardPort"`
	Kubeconfig  string `json:"kubeconfig"`
}

// inNamespace reports whether pid lives in the named network namespace.
func inNamespace(pid int, ns string) bool {
	var st syscall.Stat_t
	if err := syscall.Stat(netns.Path(ns), &st); err != nil {
		return false
	}
	link, err := os.Readlink(filepath.Join("/proc", strconv.Itoa(pid), "ns", "net"))
	return err == nil && link == fmt.Sprintf("net:[%d]", st.Ino)
}

// kubeStatus fills r for a Kubernetes-mode lab: the control plane, each node's runtime
// (containerd and kubelet) and its agent (the DaemonSet's pod, asked on its socket).
func kubeStatus(ctx context.Context, st *State, r *Report, withPods bool) {
	k, cp := st.Kube, ControlPlaneNS(st.Name)
	proc := func(pid int) ProcReport { return ProcReport{PID: pid, Alive: alive(pid) && inNamespace(pid, cp)} }
	kr := &KubeReport{Etcd: proc(k.EtcdPID), APIServer: proc(k.APIServerPID), ControllerManager: proc(k.ControllerManagerPID),
		Scheduler: proc(k.SchedulerPID), ForwardPort: k.ForwardPort, Kubeconfig: KubeconfigPath(st.Name),
		Forwarder: ProcReport{PID: k.ForwarderPID, Alive: alive(k.ForwarderPID) && isLabProcess(st.Name, k.ForwarderPID)}}
	r.Kube = kr
	// The Kubernetes datastore is the API server; Trellis's controllers run as a Deployment.
	r.Datastore = kr.APIServer
	for _, n := range st.Nodes {
		nr := NodeReport{Name: n.Name, Namespace: n.Namespace, Address: n.Address, RuntimePID: n.RuntimePID,
			RuntimeAlive: alive(n.RuntimePID) && isLabProcess(st.Name, n.RuntimePID)}
		nr.AgentReady = agentReady(ctx, n.Socket)
		nr.AgentAlive = nr.AgentReady || agentAnswers(ctx, n.Socket)
		if withPods && nr.AgentAlive {
			nr.BGPPeers = agentPeers(ctx, n.Socket)
		}
		r.Nodes = append(r.Nodes, nr)
	}
}

// kubeHealthy: every control-plane process and node runtime alive, every agent ready.
func (r Report) kubeHealthy() bool {
	k := r.Kube
	if !k.Etcd.Alive || !k.APIServer.Alive || !k.ControllerManager.Alive || !k.Scheduler.Alive || !k.Forwarder.Alive || len(r.Nodes) == 0 {
		return false
	}
	for _, n := range r.Nodes {
		if !n.RuntimeAlive || !n.AgentReady {
			return false
		}
	}
	return true
}

// writeKubeStatus prints the control plane and the nodes of a Kubernetes-mode lab.
func writeKubeStatus(w io.Writer, r Report) {
	k := r.Kube
	for _, p := range []struct {
		what string
		p    ProcReport
	}{{"etcd", k.Etcd}, {"kube-apiserver", k.APIServer}, {"kube-controller-manager", k.ControllerManager},
		{"kube-scheduler", k.Scheduler}, {"forwarder", k.Forwarder}} {
		fmt.Fprintf(w, "%s: pid %d, alive %s\n", p.what, p.p.PID, yesNo(p.p.Alive))
	}
	fmt.Fprintf(w, "kubeconfig: %s (https://127.0.0.1:%d), or trellis lab kubectl --name %s -- ...\n\n", k.Kubeconfig, k.ForwardPort, r.Name)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tNAMESPACE\tADDRESS\tRUNTIME PID\tALIVE\tAGENT READY")
	for _, n := range r.Nodes {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", n.Name, n.Namespace, n.Address, n.RuntimePID, yesNo(n.RuntimeAlive), yesNo(n.AgentReady))
	}
	tw.Flush()
	fmt.Fprintln(w)
}

// agentAnswers reports whether an agent serves its socket at all (ready or not).
func agentAnswers(ctx context.Context, sock string) bool {
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, _, err := agentapi.NewClient(sock).Get(rctx, "/healthz")
	return err == nil
}
