package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"github.com/vishvananda/netlink"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/trellisnet/trellis/internal/agent/agentapi"
	"github.com/trellisnet/trellis/internal/controller"
	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/netns"
	"github.com/trellisnet/trellis/internal/store"
)

// nextNodeIndex is the lowest node index whose underlay address and fabric port are free.
func nextNodeIndex(st *State) (int, error) {
	used := fabricUsed(st)
	ports := map[string]bool{}
	_ = netns.Do(FabricNS(st.Name), func() error {
		links, err := netlink.LinkList()
		for _, l := range links {
			ports[l.Attrs().Name] = true
		}
		return err
	})
	for i := 1; i <= 200; i++ {
		if !used[underlayAddr(i).Addr()] && !ports[fmt.Sprintf("n%d", i)] {
			return i, nil
		}
	}
	return 0, fmt.Errorf("no free node slot on the fabric %s", UnderlayCIDR)
}

// nodeObjects are the Calico and Kubernetes Node resources of a lab node, as lab up
// writes them.
func nodeObjects(routing string, n NodeState) []model.Object {
	addr := strings.SplitN(n.Address, "/", 2)[0]
	labels := map[string]string{"kubernetes.io/hostname": n.Name, "kubernetes.io/os": "linux"}
	spec := model.NodeSpec{Addresses: []model.NodeAddress{{Address: addr, Type: "InternalIP"}}}
	if routing == RoutingBGP {
		spec.BGP = &model.NodeBGPSpec{IPv4Address: n.Address}
	}
	return []model.Object{
		&model.Node{TypeMeta: metav1.TypeMeta{APIVersion: model.APIVersionCalico, Kind: "Node"},
			ObjectMeta: metav1.ObjectMeta{Name: n.Name, Labels: labels}, Spec: spec},
		&corev1.Node{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Node"},
			ObjectMeta: metav1.ObjectMeta{Name: n.Name, Labels: labels},
			Status:     corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: addr}, {Type: corev1.NodeHostName, Address: n.Name}}}},
	}
}

// newNodeNamespace picks the new node's name (nodeN for the next free index N when node is
// empty) and underlay address, and creates its namespace on the fabric.
func newNodeNamespace(st *State, labName, node string) (string, netip.Prefix, error) {
	i, err := nextNodeIndex(st)
	if err != nil {
		return "", netip.Prefix{}, err
	}
	if node == "" {
		node = NodeName(i)
		for _, taken := st.Node(node); taken; _, taken = st.Node(node) {
			i++
			node = NodeName(i)
		}
	}
	if _, ok := st.Node(node); ok {
		return "", netip.Prefix{}, fmt.Errorf("add node %s to lab %s: it exists", node, labName)
	}
	if _, ok := st.External(node); ok {
		return "", netip.Prefix{}, fmt.Errorf("add node %s to lab %s: an external host has that name", node, labName)
	}
	addr := underlayAddr(i)
	forgetNeighbor(st, addr.Addr())
	if err := createNode(labName, i, node, addr); err != nil {
		_ = removeHostNS(labName, NodeNS(labName, node), fmt.Sprintf("n%d", i))
		return "", netip.Prefix{}, fmt.Errorf("add node %s to lab %s: %w", node, labName, err)
	}
	return node, addr, nil
}

// AddNode adds a node to a running lab: its namespace on the fabric at the next free
// underlay address, its Node resources, CNI configuration and agent; it returns when the
// agent is ready. An empty node name picks nodeN for the next free index N.
func AddNode(ctx context.Context, labName, node string, out io.Writer) (NodeState, error) {
	if err := ValidateName(labName); err != nil {
		return NodeState{}, err
	}
	if node != "" {
		if err := ValidateHost(node); err != nil {
			return NodeState{}, err
		}
	}
	if err := checkRoot("lab node add"); err != nil {
		return NodeState{}, err
	}
	if isKubeLab(labName) {
		return kubeAddNode(ctx, labName, node, out)
	}
	var ns NodeState
	err := updateState(labName, func(st *State) error {
		var addr netip.Prefix
		var err error
		if node, addr, err = newNodeNamespace(st, labName, node); err != nil {
			return err
		}
		ns = NodeState{Name: node, Namespace: NodeNS(labName, node), Address: addr.String(), Socket: agentSocket(labName, node)}
		fmt.Fprintf(out, "node %s: namespace %s, underlay %s\n", node, ns.Namespace, addr)
		cfg := Config{Name: labName, Routing: st.Routing, Binary: st.Binary, LogLevel: "info", IPv6: st.IPv6}
		if err := writeConflists(cfg, &State{Name: labName, Nodes: []NodeState{ns}}); err != nil {
			return err
		}
		if err := writeNodeObjects(ctx, labName, st.Routing, ns); err != nil {
			return err
		}
		if st.IPv6 {
			if err := seedIPv6(ctx, labName, []NodeState{ns}); err != nil {
				return err
			}
		}
		p, err := startProcess(ns.Namespace, append(append(cfg.base(), "node", "run", "--node-name", node, "--health-addr", agentapi.Disabled,
			"--status-socket", ns.Socket), agentFlowArgs(labName, node)...), nil, agentLog(labName, node))
		if err != nil {
			return err
		}
		ns.AgentPID = p.pid()
		st.Nodes = append(st.Nodes, ns)
		fmt.Fprintf(out, "agent %s: pid %d\n", node, p.pid())
		wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		if err := waitAgent(wctx, labName, ns, p); err != nil {
			return err
		}
		fmt.Fprintf(out, "agent %s: ready\n", node)
		// Routers first: the node's sessions to them need their configuration.
		err = reconfigureRouters(ctx, st)
		if st.Routing == RoutingBGP {
			waitSessions(wctx, ns, out)
		}
		return err
	})
	return ns, err
}

// waitSessions waits up to 10 s until every BGP session of the node's agent is
// established, and says how many are.
func waitSessions(ctx context.Context, n NodeState, out io.Writer) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		peers := agentPeers(ctx, n.Socket)
		up := 0
		for _, p := range peers {
			if p.State == "Established" {
				up++
			}
		}
		if (len(peers) > 0 && up == len(peers)) || time.Now().After(deadline) || ctx.Err() != nil {
			fmt.Fprintf(out, "node %s: %d of %d bgp sessions established\n", n.Name, up, len(peers))
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitAllSessions waits up to 10 s until every node's BGP sessions are established and
// says so (or how many are not): lab up returns with routes exchanged.
func waitAllSessions(ctx context.Context, st *State, out io.Writer) {
	start := time.Now()
	for {
		up, total := 0, 0
		for _, n := range st.Nodes {
			for _, p := range agentPeers(ctx, n.Socket) {
				total++
				if p.State == "Established" {
					up++
				}
			}
		}
		if total > 0 && up == total {
			fmt.Fprintf(out, "bgp: %d sessions established in %s\n", total, time.Since(start).Round(time.Millisecond))
			return
		}
		if time.Since(start) > 10*time.Second || ctx.Err() != nil {
			fmt.Fprintf(out, "bgp: %d of %d sessions established after %s; see lab status\n", up, total, time.Since(start).Round(time.Millisecond))
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func writeNodeObjects(ctx context.Context, labName, routing string, n NodeState) error {
	s, err := OpenStore(labName)
	if err != nil {
		return err
	}
	defer s.Close()
	for _, o := range nodeObjects(routing, n) {
		model.SetDefaults(o)
		if errs := model.Validate(o); len(errs) > 0 {
			return fmt.Errorf("add node %s: %s: %w", n.Name, o.GetObjectKind().GroupVersionKind().Kind, errs.ToAggregate())
		}
		if _, err := s.Create(ctx, o); err != nil && !errors.Is(err, store.ErrAlreadyExists) {
			return fmt.Errorf("add node %s: create %s: %w", n.Name, o.GetObjectKind().GroupVersionKind().Kind, err)
		}
	}
	return nil
}

// RemoveNode takes a node out of a running lab: its pods are deleted (and torn down by
// the controller), its Node resources and IPAM affinities removed, so that the other nodes
// withdraw its routes, then its agent is stopped and its namespace deleted.
func RemoveNode(ctx context.Context, labName, node string, out io.Writer) error {
	if err := ValidateName(labName); err != nil {
		return err
	}
	if err := checkRoot("lab node remove"); err != nil {
		return err
	}
	if isKubeLab(labName) {
		return kubeRemoveNode(ctx, labName, node, out)
	}
	return updateState(labName, func(st *State) error {
		n, ok := st.Node(node)
		if !ok {
			return fmt.Errorf("remove node %s from lab %s: no such node", node, labName)
		}
		if len(st.Nodes) == 1 {
			return fmt.Errorf("remove node %s from lab %s: it is the last node (use lab down)", node, labName)
		}
		s, err := OpenStore(labName)
		if err != nil {
			return err
		}
		defer s.Close()
		if err := deleteNodePods(ctx, s, node, out); err != nil {
			return err
		}
		if err := controller.DecommissionNode(ctx, s, node); err != nil {
			return err
		}
		fmt.Fprintf(out, "node %s: Node resources deleted\n", node)
		if alive(n.AgentPID) && isLabProcess(labName, n.AgentPID) {
			killPIDs([]int{n.AgentPID}, 5*time.Second)
		}
		port := ""
		if p, err := netip.ParsePrefix(n.Address); err == nil {
			port = fmt.Sprintf("n%d", int(p.Addr().As4()[3])-10)
		}
		if err := removeHostNS(labName, n.Namespace, port); err != nil {
			return fmt.Errorf("remove node %s from lab %s: %w", node, labName, err)
		}
		st.Nodes = deleteNode(st.Nodes, node)
		if p, err := netip.ParsePrefix(n.Address); err == nil {
			forgetNeighbor(st, p.Addr())
		}
		fmt.Fprintf(out, "node %s removed\n", node)
		return reconfigureRouters(ctx, st)
	})
}

func deleteNode(nodes []NodeState, name string) []NodeState {
	out := nodes[:0]
	for _, n := range nodes {
		if n.Name != name {
			out = append(out, n)
		}
	}
	return out
}

// deleteNodePods deletes the pods scheduled on node and waits (up to 20 s) until the
// controller has torn them down: no WorkloadEndpoint of the node is left.
func deleteNodePods(ctx context.Context, s store.Store, node string, out io.Writer) error {
	res, err := s.List(ctx, podKind(), store.ListOptions{})
	if err != nil {
		return fmt.Errorf("remove node %s: list pods: %w", node, err)
	}
	count := 0
	for _, o := range res.Items {
		p, ok := o.(*corev1.Pod)
		if !ok || p.Spec.NodeName != node {
			continue
		}
		if _, err := s.Delete(ctx, podKind(), p.Namespace, p.Name, store.DeleteOptions{}); err != nil && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("remove node %s: delete pod %s/%s: %w", node, p.Namespace, p.Name, err)
		}
		count++
	}
	if count == 0 {
		return nil
	}
	fmt.Fprintf(out, "node %s: deleted %d pods\n", node, count)
	wk := model.KindWorkloadEndpoint
	deadline := time.Now().Add(20 * time.Second)
	for {
		res, err := s.List(ctx, wk, store.ListOptions{})
		left := 0
		if err == nil {
			for _, o := range res.Items {
				if w, ok := o.(*model.WorkloadEndpoint); ok && w.Spec.Node == node {
					left++
				}
			}
		}
		if err == nil && left == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			fmt.Fprintf(out, "node %s: %d endpoints still there after 20s; going on\n", node, left)
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// forgetNeighbor deletes the ARP entry for addr in every node and external namespace of
// the lab: an address that comes back on a new veth has a new MAC, and a stale entry
// would blackhole the new node's BGP sessions until the kernel gave up on it.
func forgetNeighbor(st *State, addr netip.Addr) {
	var nss []string
	for _, n := range st.Nodes {
		nss = append(nss, n.Namespace)
	}
	for _, e := range st.Externals {
		nss = append(nss, e.Namespace)
	}
	for _, ns := range nss {
		_ = netns.Do(ns, func() error {
			l, err := netlink.LinkByName(underlayName)
			if err != nil {
				return err
			}
			return netlink.NeighDel(&netlink.Neigh{LinkIndex: l.Attrs().Index, Family: netlink.FAMILY_V4, IP: addr.AsSlice()})
		})
	}
}
