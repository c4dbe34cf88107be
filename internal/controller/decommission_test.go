package controller

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/trellisnet/trellis/internal/agent/agentapi"
	"github.com/trellisnet/trellis/internal/ipam"
	"github.com/trellisnet/trellis/internal/ipam/ipamstore"
	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/store"
	"github.com/trellisnet/trellis/internal/store/memory"
)

// assign gives handle one address on node from the test pool.
func assign(t *testing.T, st store.Store, node, handle string) netip.Addr {
	t.Helper()
	ctx := context.Background()
	in, err := ipamstore.Load(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	res, err := ipam.New(ipamstore.New(st), ipamstore.Match).AutoAssign(ctx, ipam.AssignArgs{Node: node, Handle: handle,
		Attrs: map[string]string{ipam.AttrNode: node}, Num4: 1, Pools: in.Pools, Reserved: in.Reserved, Config: in.Config})
	if err != nil || len(res.IPv4) != 1 {
		t.Fatalf("assign %s on %s: %v %v", handle, node, res, err)
	}
	return res.IPv4[0].Addr
}

func createAll(t *testing.T, st store.Store, objs ...model.Object) {
	t.Helper()
	for _, o := range objs {
		model.SetDefaults(o)
		if _, err := st.Create(context.Background(), o); err != nil {
			t.Fatal(err)
		}
	}
}

func nodes(node string) []model.Object {
	return []model.Object{
		&model.Node{TypeMeta: metav1.TypeMeta{APIVersion: model.APIVersionCalico, Kind: "Node"}, ObjectMeta: metav1.ObjectMeta{Name: node}},
		&corev1.Node{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Node"}, ObjectMeta: metav1.ObjectMeta{Name: node}},
	}
}

// ipamState is what the store holds, as comparable text.
type ipamState struct {
	Nodes      []string // kind/name
	Blocks     []string // cidr affinity
	Affinities []string // node cidr
}

func readState(t *testing.T, st store.Store) ipamState {
	t.Helper()
	ctx := context.Background()
	var s ipamState
	for _, k := range []*model.Kind{kindCalicoNode(t), kindK8sNode(t)} {
		for _, o := range mustList[model.Object](t, st, k) {
			s.Nodes = append(s.Nodes, k.Group+"/"+o.GetName())
		}
	}
	is := ipamstore.New(st)
	blocks, err := is.Blocks().List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range blocks {
		s.Blocks = append(s.Blocks, b.CIDR.String()+" "+b.Affinity)
	}
	affs, err := is.Affinities().List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range affs {
		s.Affinities = append(s.Affinities, a.Node+" "+a.CIDR.String())
	}
	slices.Sort(s.Nodes)
	slices.Sort(s.Blocks)
	slices.Sort(s.Affinities)
	return s
}

func kindCalicoNode(*testing.T) *model.Kind { return model.KindNode }

func kindK8sNode(*testing.T) *model.Kind { return model.KindK8sNode }

func TestDecommissionNode(t *testing.T) {
	ctx := context.Background()
	st := memory.New(0)
	defer st.Close()
	createAll(t, st, &model.IPPool{TypeMeta: metav1.TypeMeta{APIVersion: model.APIVersionCalico, Kind: "IPPool"},
		ObjectMeta: metav1.ObjectMeta{Name: "pool"},
		Spec:       model.IPPoolSpec{CIDR: "10.244.0.0/16", BlockSize: 26, VXLANMode: model.EncapAlways, NodeSelector: "all()"}})
	for _, n := range []string{"node1", "node2", "node3"} {
		createAll(t, st, nodes(n)...)
		assign(t, st, n, agentapi.TunnelHandle(n))
	}
	pod := assign(t, st, "node1", "pod-on-node1") // keeps node1's block alive
	before := readState(t, st)
	block := func(node string) string { // the block affine to node before
		for _, a := range before.Affinities {
			if n, cidr, _ := strings.Cut(a, " "); n == node {
				return cidr
			}
		}
		t.Fatalf("no block of %s: %v", node, before)
		return ""
	}
	b1, b2 := block("node1"), block("node2")

	for i := range 2 { // the second time finds everything gone already
		if err := DecommissionNode(ctx, st, "node1"); err != nil {
			t.Fatalf("decommission node1 (%d): %v", i+1, err)
		}
	}
	if err := DecommissionNode(ctx, st, "node3"); err != nil {
		t.Fatalf("decommission node3: %v", err)
	}
	want := ipamState{
		Nodes:      []string{"/node2", "projectcalico.org/node2"},
		Blocks:     []string{b1 + " ", b2 + " node2"}, // node1's kept without affinity, node3's deleted
		Affinities: []string{"node2 " + b2},
	}
	slices.Sort(want.Blocks)
	if diff := cmp.Diff(want, readState(t, st)); diff != "" {
		t.Errorf("store after decommissioning node1 and node3 (-want +got):\n%s", diff)
	}
	a := ipam.New(ipamstore.New(st), ipamstore.Match)
	for handle, want := range map[string]int{agentapi.TunnelHandle("node1"): 0, agentapi.TunnelHandle("node3"): 0,
		agentapi.TunnelHandle("node2"): 1, "pod-on-node1": 1} {
		got, err := a.AddrsByHandle(ctx, handle)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != want {
			t.Errorf("handle %s has %d addresses, want %d", handle, len(got), want)
		}
		if handle == "pod-on-node1" && len(got) == 1 && got[0].Addr != pod {
			t.Errorf("pod address %s became %s", pod, got[0].Addr)
		}
	}
}
