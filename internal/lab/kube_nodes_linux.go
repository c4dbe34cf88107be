package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// kubeAddNode adds a node to a Kubernetes-mode lab as one joins a real cluster: its
// namespace on the fabric, a kubelet certificate from the lab's CA, containerd and the
// kubelet, Trellis's images; the DaemonSet then starts the agent there. It returns when
// the node is Ready and its agent ready.
func kubeAddNode(ctx context.Context, labName, node string, out io.Writer) (NodeState, error) {
	var ns NodeState
	err := updateState(labName, func(st *State) error {
		var addr netip.Prefix
		var err error
		if node, addr, err = newNodeNamespace(st, labName, node); err != nil {
			return err
		}
		if err := os.MkdirAll(nodeDir(labName, node), 0o755); err != nil {
			return err
		}
		ns = NodeState{Name: node, Namespace: NodeNS(labName, node), Address: addr.String(),
			Socket: filepath.Join(nodeDir(labName, node), "run-trellis-node", node, "agent.sock")}
		st.Nodes = append(st.Nodes, ns)
		fmt.Fprintf(out, "node %s: namespace %s, underlay %s\n", node, ns.Namespace, addr)
		if err := nodeCredsLater(labName, ns); err != nil {
			return err
		}
		dns, err := dnsAddr(st.Kube.ServiceCIDR)
		if err != nil {
			return err
		}
		cfg := Config{Name: labName, Routing: st.Routing, Binary: st.Binary, LogLevel: st.LogLevel}
		if cfg.LogLevel == "" {
			cfg.LogLevel = "info"
		}
		if err := startNodeRuntime(cfg, st, len(st.Nodes)-1, dns.String()); err != nil {
			return err
		}
		ns = st.Nodes[len(st.Nodes)-1]
		wctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
		defer cancel()
		if err := importImages(wctx, labName, st.Kube, node, out); err != nil {
			return err
		}
		if err := waitUntil(wctx, "node "+node+" Ready with its agent", nodeLog(labName, node), func() error {
			o, err := kubectl(wctx, labName, st.Kube, "", "get", "node", node, "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status}`)
			if err == nil && o != "True" {
				err = fmt.Errorf("node condition Ready is %q", o)
			}
			if err == nil && !agentReady(wctx, ns.Socket) {
				err = errors.New("its agent is not ready")
			}
			return err
		}); err != nil {
			return err
		}
		fmt.Fprintf(out, "node %s: Ready, agent ready\n", node)
		if err := routeControlPlane(st); err != nil {
			return err
		}
		err = reconfigureRouters(ctx, st)
		if st.Routing == RoutingBGP {
			waitSessions(wctx, ns, out)
		}
		return err
	})
	return ns, err
}

// kubeRemoveNode takes a node out as an operator would: drained (its pods evicted, the
// DaemonSet's left), its runtime and the rest of its pods stopped, its Node deleted (the
// controllers' node clean-up then releases its IPAM blocks and affinities), its
// namespace, cgroups and directories removed.
func kubeRemoveNode(ctx context.Context, labName, node string, out io.Writer) error {
	return updateState(labName, func(st *State) error {
		n, ok := st.Node(node)
		if !ok {
			return fmt.Errorf("remove node %s from lab %s: no such node", node, labName)
		}
		if len(st.Nodes) == 1 {
			return fmt.Errorf("remove node %s from lab %s: it is the last node (use lab down)", node, labName)
		}
		k := st.Kube
		if _, err := kubectl(ctx, labName, k, "", "drain", node, "--ignore-daemonsets", "--delete-emptydir-data", "--force",
			"--grace-period=5", "--timeout=60s"); err != nil {
			return fmt.Errorf("remove node %s: %w", node, err)
		}
		fmt.Fprintf(out, "node %s: drained\n", node)
		if alive(n.RuntimePID) && isLabProcess(labName, n.RuntimePID) {
			killPIDs([]int{n.RuntimePID}, 15*time.Second)
		}
		if err := removeNodeCgroups(labName, node); err != nil {
			return err
		}
		if _, err := kubectl(ctx, labName, k, "", "delete", "node", node, "--wait=true"); err != nil {
			return fmt.Errorf("remove node %s: %w", node, err)
		}
		fmt.Fprintf(out, "node %s: Node deleted; the controllers release its IPAM blocks and affinities\n", node)
		port := ""
		if p, err := netip.ParsePrefix(n.Address); err == nil {
			port = fmt.Sprintf("n%d", int(p.Addr().As4()[3])-10)
			forgetNeighbor(st, p.Addr())
		}
		for _, pid := range labPIDs(labName, nil) {
			if inNamespace(pid, n.Namespace) {
				killPIDs([]int{pid}, 3*time.Second)
			}
		}
		if err := removeHostNS(labName, n.Namespace, port); err != nil {
			return fmt.Errorf("remove node %s from lab %s: %w", node, labName, err)
		}
		if err := os.RemoveAll(nodeDir(labName, node)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		st.Nodes = deleteNode(st.Nodes, node)
		fmt.Fprintf(out, "node %s removed\n", node)
		if err := routeControlPlane(st); err != nil {
			return err
		}
		return reconfigureRouters(ctx, st)
	})
}

// removeNodeCgroups kills what is left in one node's cgroups and removes them.
func removeNodeCgroups(name, node string) error {
	return removeCgroupTree(name, strings.TrimPrefix(cgroupRoot(name, node), "/"))
}
