package ipamstore_test

import (
	"context"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/trellisnet/trellis/internal/ipam"
	"github.com/trellisnet/trellis/internal/ipam/ipamstore"
	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/store/memory"
)

func TestCollectorReleasesConfirmedLeaksOnly(t *testing.T) {
	ctx := context.Background()
	st := memory.New(0)
	a := ipam.New(ipamstore.New(st), ipamstore.Match)
	pool := ipam.Pool{Name: "p", CIDR: netip.MustParsePrefix("192.0.2.0/24")}
	assign := func(cid string) netip.Addr {
		r, err := a.AutoAssign(ctx, ipam.AssignArgs{Node: "n1", Handle: "net." + cid, Num4: 1, Pools: []ipam.Pool{pool},
			Attrs: map[string]string{ipam.AttrContainerID: cid, ipam.AttrNode: "n1"}})
		if err != nil {
			t.Fatal(err)
		}
		return r.IPv4[0].Addr
	}
	live, leaked := assign("live"), assign("leaked")
	if _, err := st.Create(ctx, &model.WorkloadEndpoint{TypeMeta: metav1.TypeMeta{APIVersion: model.APIVersionCalico, Kind: "WorkloadEndpoint"},
		ObjectMeta: metav1.ObjectMeta{Name: "wep", Namespace: "default"},
		Spec:       model.WorkloadEndpointSpec{ContainerID: "live", IPNetworks: []string{live.String() + "/32"}}}); err != nil {
		t.Fatal(err)
	}
	c := ipamstore.NewCollector(st, time.Minute, time.Second, slog.New(slog.DiscardHandler))
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if out, err := c.CollectOnce(ctx, t0); err != nil || len(out) != 0 {
		t.Fatalf("first pass released %v (%v), want nothing inside the grace period", out, err)
	}
	out, err := c.CollectOnce(ctx, t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 1 || out[0].Addr != leaked || out[0].Status != ipam.StatusReleased {
		t.Fatalf("released %+v, want only %s", out, leaked)
	}
	if got, _ := a.AddrsByHandle(ctx, "net.live"); len(got) != 1 {
		t.Errorf("live address released: %v", got)
	}
}
