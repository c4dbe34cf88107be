package ctl

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/trellisnet/trellis/internal/ipam"
	"github.com/trellisnet/trellis/internal/ipam/ipamstore"
	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/store"
	"github.com/trellisnet/trellis/internal/store/memory"
)

// nopClose keeps the shared memory store open across commands.
type nopClose struct{ store.Store }

func (nopClose) Close() error { return nil }

func runIPAM(t *testing.T, st store.Store, args ...string) (string, error) {
	t.Helper()
	o := &Options{OpenStore: func(context.Context) (store.Store, error) { return nopClose{st}, nil }}
	c := NewIPAMCmd(o)
	var out bytes.Buffer
	c.SetOut(&out)
	c.SetErr(&out)
	c.SetArgs(args)
	c.SilenceUsage, c.SilenceErrors = true, true
	err := c.ExecuteContext(context.Background())
	return out.String(), err
}

// ipamFixture: pool 192.0.2.0/24 in /28 blocks; node n1 exists, node gone does not.
// c1 (n1) has its WorkloadEndpoint, c2 (n1) has none (leaked), c3 (gone) has one.
func ipamFixture(t *testing.T) (store.Store, map[string]netip.Addr) {
	t.Helper()
	ctx := context.Background()
	st := memory.New(0)
	create := func(o model.Object) {
		t.Helper()
		if _, err := st.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	create(&model.IPPool{TypeMeta: metav1.TypeMeta{APIVersion: model.APIVersionCalico, Kind: "IPPool"},
		ObjectMeta: metav1.ObjectMeta{Name: "pool1"}, Spec: model.IPPoolSpec{CIDR: "192.0.2.0/24", BlockSize: 28}})
	create(&model.Node{TypeMeta: metav1.TypeMeta{APIVersion: model.APIVersionCalico, Kind: "Node"},
		ObjectMeta: metav1.ObjectMeta{Name: "n1"}})
	in, err := ipamstore.Load(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	a := ipam.New(ipamstore.New(st), ipamstore.Match)
	addrs := map[string]netip.Addr{}
	for _, w := range []struct{ cid, node string }{{"c1", "n1"}, {"c2", "n1"}, {"c3", "gone"}} {
		r, err := a.AutoAssign(ctx, ipam.AssignArgs{Node: w.node, Handle: "k8s-pod-network." + w.cid, Num4: 1, Pools: in.Pools,
			Attrs: map[string]string{ipam.AttrContainerID: w.cid, ipam.AttrNode: w.node, ipam.AttrNamespace: "default", ipam.AttrPod: "pod-" + w.cid}})
		if err != nil {
			t.Fatal(err)
		}
		addrs[w.cid] = r.IPv4[0].Addr
		if w.cid == "c2" {
			continue
		}
		create(&model.WorkloadEndpoint{TypeMeta: metav1.TypeMeta{APIVersion: model.APIVersionCalico, Kind: "WorkloadEndpoint"},
			ObjectMeta: metav1.ObjectMeta{Name: "wep-" + w.cid, Namespace: "default"},
			Spec: model.WorkloadEndpointSpec{Orchestrator: "k8s", Pod: "pod-" + w.cid, ContainerID: w.cid, Node: w.node,
				IPNetworks: []string{r.IPv4[0].Addr.String() + "/32"}}})
	}
	return st, addrs
}

func TestIPAMShow(t *testing.T) {
	st, addrs := ipamFixture(t)
	out, err := runIPAM(t, st, "show", "--show-blocks")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"IP Pool pool1", "192.0.2.0/24", "3", "256", "1.2%", "Block", "n1", "gone"} {
		if !strings.Contains(out, want) {
			t.Errorf("show --show-blocks output lacks %q:\n%s", want, out)
		}
	}
	out, err = runIPAM(t, st, "show", "--show-borrowed")
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 1 {
		t.Errorf("no address is borrowed, got:\n%s", out)
	}
	_ = addrs
}

func TestIPAMCheckAndReleaseFromReport(t *testing.T) {
	st, addrs := ipamFixture(t)
	report := filepath.Join(t.TempDir(), "report.json")
	out, err := runIPAM(t, st, "check", "--report", report)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "Leaked addresses: 1") || !strings.Contains(out, addrs["c2"].String()) {
		t.Errorf("check output:\n%s\nwant exactly c2's %s leaked", out, addrs["c2"])
	}
	data, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	var rep ipam.Report
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Leaked) != 1 || rep.Leaked[0].Handle != "k8s-pod-network.c2" {
		t.Errorf("report leaked %+v, want handle k8s-pod-network.c2", rep.Leaked)
	}
	if len(rep.OrphanBlocks) != 1 || rep.OrphanBlocks[0].Node != "gone" {
		t.Errorf("report orphan blocks %+v, want the block of node gone", rep.OrphanBlocks)
	}
	out, err = runIPAM(t, st, "release", "--from-report", report)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "Released 1 of 1 leaked addresses") {
		t.Errorf("release output:\n%s", out)
	}
	rep2, err := ipamCheck(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep2.Leaked) != 0 || len(rep2.OrphanBlocks) != 0 {
		t.Errorf("after release: %+v, want nothing left", rep2)
	}
	// The live addresses stayed allocated.
	a := ipam.New(ipamstore.New(st), ipamstore.Match)
	for _, cid := range []string{"c1", "c3"} {
		got, err := a.AddrsByHandle(context.Background(), "k8s-pod-network."+cid)
		if err != nil || len(got) != 1 || got[0].Addr != addrs[cid] {
			t.Errorf("%s: %v %v, want %s still allocated", cid, got, err, addrs[cid])
		}
	}
	// Releasing the same report again frees nothing (sequence numbers).
	out, err = runIPAM(t, st, "release", "--from-report", report)
	if err != nil || !strings.Contains(out, "Released 0 of 1") {
		t.Errorf("second release: %v\n%s", err, out)
	}
}

func TestIPAMReleaseIP(t *testing.T) {
	st, addrs := ipamFixture(t)
	out, err := runIPAM(t, st, "release", "--ip", addrs["c1"].String())
	if err != nil || !strings.Contains(out, "k8s-pod-network.c1") {
		t.Fatalf("release --ip: %v\n%s", err, out)
	}
	if _, err := runIPAM(t, st, "release", "--ip", addrs["c1"].String()); err == nil {
		t.Error("releasing a free address succeeded")
	}
	for _, args := range [][]string{{"release"}, {"release", "--ip", "x"}, {"release", "--ip", "192.0.2.1", "--from-report", "f"}} {
		if _, err := runIPAM(t, st, args...); !errors.As(err, new(UsageError)) {
			t.Errorf("%v: err = %v, want a usage error", args, err)
		}
	}
}

// ipam show -o json carries pools and blocks; both flags print both tables; ipam check -o
// json is the report.
func TestIPAMShowJSONAndBothTables(t *testing.T) {
	st, _ := ipamFixture(t)
	out, err := runIPAM(t, st, "show", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var got usageJSON
	if err := json.Unmarshal([]byte(out), &got); err != nil || len(got.Pools) == 0 || len(got.Pools[0].Blocks) == 0 {
		t.Fatalf("show -o json: %v\n%s", err, out)
	}
	out, err = runIPAM(t, st, "show", "--show-blocks", "--show-borrowed")
	if err != nil || !strings.Contains(out, "Block") || !strings.Contains(out, "BORROWING-NODE") {
		t.Errorf("both flags: %v\n%s", err, out)
	}
	out, err = runIPAM(t, st, "check", "-o", "json")
	var rep ipam.Report
	if err != nil || json.Unmarshal([]byte(out), &rep) != nil || len(rep.Leaked) != 1 {
		t.Errorf("check -o json: %v\n%s", err, out)
	}
	if _, err := runIPAM(t, st, "show", "-o", "yaml"); err == nil {
		t.Error("show -o yaml: want a usage error")
	}
}
