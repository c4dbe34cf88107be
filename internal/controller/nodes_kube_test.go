package controller

import (
	"context"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/trellisnet/trellis/internal/agent/agentapi"
	"github.com/trellisnet/trellis/internal/ipam"
	"github.com/trellisnet/trellis/internal/ipam/ipamstore"
	"github.com/trellisnet/trellis/internal/kube/kubetest"
	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/store"
	"github.com/trellisnet/trellis/internal/store/kube"
)

// TestIPAMCleanupKube runs the nodes and ipamgc loops against a real API server, where
// Nodes are Kubernetes Nodes and WorkloadEndpoints views of annotated Pods. No kubelet
// runs: a bound pod is deleted with kubectl --force, as the kubelet would finish it.
func TestIPAMCleanupKube(t *testing.T) {
	if testing.Short() {
		t.Skip("starts kube-apiserver; skipped with -short")
	}
	c := kubetest.Start(t)
	c.InstallCRDs(t)
	st, err := kube.New(store.Config{Kubeconfig: c.Kubeconfig})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	pool := &model.IPPool{TypeMeta: metav1.TypeMeta{APIVersion: model.APIVersionCalico, Kind: "IPPool"},
		ObjectMeta: metav1.ObjectMeta{Name: "pool"},
		Spec:       model.IPPoolSpec{CIDR: "10.244.0.0/16", BlockSize: 26, VXLANMode: model.EncapAlways, NodeSelector: "all()"}}
	create(t, st, pool)
	forceDelete := func(t *testing.T, name string) {
		t.Helper()
		if out, err := c.Kubectl("", "delete", "pod", "-n", "default", name, "--force", "--grace-period=0"); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
	}
	t.Run("nodes", func(t *testing.T) { testNodesLoopKube(t, st, forceDelete) })
	t.Run("ipamgc", func(t *testing.T) { testIPAMGCKube(t, st, forceDelete) })
}

// testNodesLoopKube: deleting a Node releases its addresses no pod holds, its tunnel
// address and its affinities (an empty block deleted, a block holding another node's pod
// kept without affinity, that address untouched); a node whose pod is still bound waits
// for it; a node IPAM names that never was a Node is cleaned up at start.
func testNodesLoopKube(t *testing.T, st store.Store, forceDelete func(*testing.T, string)) {
	ctx := context.Background()
	for _, n := range []string{"node-a", "node-b", "node-c", "node-d"} {
		create(t, st, &corev1.Node{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Node"}, ObjectMeta: metav1.ObjectMeta{Name: n}})
	}
	for _, n := range []string{"node-a", "node-b", "node-c", "node-d", "node-e"} {
		assignFor(t, st, n, agentapi.TunnelHandle(n), map[string]string{ipam.AttrNode: n, "type": "vxlanTunnelAddress"})
	}
	// Pods deleted without a CNI DEL on node-a and node-c; node-b's pod in node-a's block
	// (borrowed); node-d's pod still bound to it.
	assignPod(t, st, "node-a", "node-a", "gone-a", false)
	assignPod(t, st, "node-c", "node-c", "gone-c", false)
	borrowed := assignPod(t, st, "node-a", "node-b", "web-b", true)
	assignPod(t, st, "node-d", "node-d", "db-d", true)
	before := readState(t, st)
	block := func(node string) string {
		for _, b := range before.Blocks {
			if cidr, n, _ := strings.Cut(b, " "); n == node {
				return cidr
			}
		}
		t.Fatalf("no block of %s: %v", node, before)
		return ""
	}
	ba, bb, bc, bd := block("node-a"), block("node-b"), block("node-c"), block("node-d")

	runController(t, st, Config{ServiceCIDRs: []netip.Prefix{DefaultServiceCIDR}, Loops: []string{LoopNodes}, Resync: time.Second})
	nodeObjs := func(names ...string) []string {
		var out []string
		for _, n := range names {
			out = append(out, "/"+n, "projectcalico.org/"+n)
		}
		slices.Sort(out)
		return out
	}
	sorted := func(s ...string) []string { slices.Sort(s); return s }
	// At start: node-e, never a Node, loses its block; the others keep everything.
	want := ipamState{
		Nodes:      nodeObjs("node-a", "node-b", "node-c", "node-d"),
		Blocks:     sorted(ba+" node-a", bb+" node-b", bc+" node-c", bd+" node-d"),
		Affinities: sorted("node-a "+ba, "node-b "+bb, "node-c "+bc, "node-d "+bd),
	}
	eventuallyState(t, st, "node-e cleaned up at start", want)
	time.Sleep(time.Second) // a resync: still nothing of the live nodes released
	if diff := cmp.Diff(want, readState(t, st)); diff != "" {
		t.Fatalf("IPAM of existing nodes changed (-want +got):\n%s", diff)
	}

	for _, n := range []string{"node-a", "node-c", "node-d"} {
		if _, err := st.Delete(ctx, model.KindK8sNode, "", n, store.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	want = ipamState{
		Nodes:      nodeObjs("node-b"),
		Blocks:     sorted(ba+" ", bb+" node-b", bd+" node-d"), // node-a's keeps web-b; node-d waits for db-d
		Affinities: sorted("node-b "+bb, "node-d "+bd),
	}
	eventuallyState(t, st, "node-a and node-c released", want)
	a := ipam.New(ipamstore.New(st), ipamstore.Match)
	wantAddrs := map[string]int{agentapi.TunnelHandle("node-a"): 0, agentapi.TunnelHandle("node-c"): 0, agentapi.TunnelHandle("node-e"): 0,
		handleOf("gone-a"): 0, handleOf("gone-c"): 0, handleOf("web-b"): 1, agentapi.TunnelHandle("node-b"): 1,
		agentapi.TunnelHandle("node-d"): 1, handleOf("db-d"): 1}
	checkHandles(t, a, wantAddrs)
	if got, _ := a.AddrsByHandle(ctx, handleOf("web-b")); len(got) != 1 || got[0].Addr != borrowed {
		t.Errorf("web-b's address %s became %v", borrowed, got)
	}

	forceDelete(t, "db-d") // the pod garbage collector's job, with no kubelet to confirm
	want.Blocks, want.Affinities = sorted(ba+" ", bb+" node-b"), []string{"node-b " + bb}
	eventuallyState(t, st, "node-d released once its pod is gone", want)
	wantAddrs[agentapi.TunnelHandle("node-d")], wantAddrs[handleOf("db-d")] = 0, 0
	checkHandles(t, a, wantAddrs)
}

// testIPAMGCKube: a pod deleted without its CNI DEL loses its address once it has been
// leaked for the grace period, never sooner; a live pod's address is never released.
func testIPAMGCKube(t *testing.T, st store.Store, forceDelete func(*testing.T, string)) {
	ctx := context.Background()
	create(t, st, &corev1.Node{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Node"}, ObjectMeta: metav1.ObjectMeta{Name: "node-g"}})
	doomed := assignPod(t, st, "node-g", "node-g", "doomed", true)
	live := assignPod(t, st, "node-g", "node-g", "live", true)
	const grace = 2 * time.Second
	runController(t, st, Config{ServiceCIDRs: []netip.Prefix{DefaultServiceCIDR}, Loops: []string{LoopIPAMGC}, IPAMGCGrace: grace})
	a := ipam.New(ipamstore.New(st), ipamstore.Match)
	time.Sleep(grace + time.Second) // both pods exist: nothing is released
	checkHandles(t, a, map[string]int{handleOf("doomed"): 1, handleOf("live"): 1})

	deleted := time.Now()
	forceDelete(t, "doomed")
	eventually(t, "doomed's address released", func() string {
		if got, err := a.AddrsByHandle(ctx, handleOf("doomed")); err != nil || len(got) != 0 {
			return "still allocated: " + doomed.String()
		}
		return ""
	})
	if took := time.Since(deleted); took < grace {
		t.Errorf("released %v after the pod's deletion, within the grace period %v", took, grace)
	}
	time.Sleep(grace + time.Second)
	got, err := a.AddrsByHandle(ctx, handleOf("live"))
	if err != nil || len(got) != 1 || got[0].Addr != live {
		t.Errorf("live pod's address %s: %v, %v", live, got, err)
	}
}

// runController runs a controller over st until the test ends; st stays open.
func runController(t *testing.T, st store.Store, cfg Config) {
	t.Helper()
	c, err := New(cfg, st, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = c.Run(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })
}

func handleOf(pod string) string { return "k8s-pod-network." + pod + "-sandbox" }

// assignFor gives handle one address from node's block with attrs.
func assignFor(t *testing.T, st store.Store, node, handle string, attrs map[string]string) netip.Addr {
	t.Helper()
	ctx := context.Background()
	in, err := ipamstore.Load(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	res, err := ipam.New(ipamstore.New(st), ipamstore.Match).AutoAssign(ctx, ipam.AssignArgs{Node: node, Handle: handle,
		Attrs: attrs, Num4: 1, Pools: in.Pools, Reserved: in.Reserved, Config: in.Config})
	if err != nil || len(res.IPv4) != 1 {
		t.Fatalf("assign %s on %s: %v %v", handle, node, res, err)
	}
	return res.IPv4[0].Addr
}

// assignPod assigns pod default/name an address from blockNode's block as the CNI plugin
// on node does and, when exists, creates the Pod bound to node with the CNI's annotations.
func assignPod(t *testing.T, st store.Store, blockNode, node, name string, exists bool) netip.Addr {
	t.Helper()
	cid := name + "-sandbox"
	addr := assignFor(t, st, blockNode, handleOf(name), map[string]string{ipam.AttrNode: node,
		ipam.AttrNamespace: "default", ipam.AttrPod: name, ipam.AttrContainerID: cid})
	if exists {
		pod := model.KindPod.New().(*corev1.Pod)
		pod.Namespace, pod.Name = "default", name
		pod.Annotations = map[string]string{model.AnnotationContainerID: cid, model.AnnotationPodIPs: addr.String() + "/32"}
		pod.Spec.NodeName = node
		pod.Spec.Containers = []corev1.Container{{Name: "app", Image: "registry.example/app:1"}}
		create(t, st, pod)
	}
	return addr
}

func eventuallyState(t *testing.T, st store.Store, what string, want ipamState) {
	t.Helper()
	eventually(t, what, func() string { return cmp.Diff(want, readState(t, st)) })
}

func checkHandles(t *testing.T, a *ipam.Allocator, want map[string]int) {
	t.Helper()
	for handle, n := range want {
		got, err := a.AddrsByHandle(context.Background(), handle)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != n {
			t.Errorf("handle %s has %d addresses, want %d", handle, len(got), n)
		}
	}
}
