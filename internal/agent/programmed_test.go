package agent

import (
	"context"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/knftables"

	"github.com/trellisnet/trellis/internal/agent/agentapi"
	"github.com/trellisnet/trellis/internal/store"
	"github.com/trellisnet/trellis/internal/store/memory"
)

// derivedStore is a store that keeps Calico's Kubernetes data model (store.Derived), as
// store/kube does.
type derivedStore struct{ store.Store }

func (derivedStore) DerivedEndpoints() bool { return true }

// TestEndpointSocketDerived: with a store that derives endpoints from pods the agent writes
// no EndpointStatus; the CNI plugin's question on the status socket is answered once the
// endpoint of that UID is programmed.
func TestEndpointSocketDerived(t *testing.T) {
	mem := memory.New(1000)
	fake := knftables.NewFake(knftables.InetFamily, "trellis")
	put(t, mem, nsYAML("web")+wepYAML("web", "local", "n1", "trl1", nil, "192.0.2.1/32"))
	cfg := testConfig(t, "n1")
	startAgent(t, New(cfg, derivedStore{mem}, Dataplane{NFT: fake}, testLogger(t)))
	wep, err := mem.Get(context.Background(), kind(t, "workloadendpoint"), "web", "local")
	if err != nil {
		t.Fatal(err)
	}
	c := agentapi.NewClient(cfg.StatusSocket)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	var ok bool
	eventually(t, 5*time.Second, func() string { // the socket is served once Run started
		ok, err = c.EndpointProgrammed(ctx, "web", "local", string(wep.GetUID()), 3*time.Second)
		if err != nil {
			return err.Error()
		}
		return ""
	})
	if !ok {
		t.Fatal("endpoint web/local not reported programmed within 3s")
	}
	if !strings.Contains(fakeTable(fake), `"trl1"`) {
		t.Fatalf("reported programmed but the endpoint is not in the table:\n%s", fakeTable(fake))
	}
	if ok, err := c.EndpointProgrammed(ctx, "web", "local", "another-uid", 100*time.Millisecond); ok || err != nil {
		t.Errorf("another uid: programmed %v, err %v; want false, nil", ok, err)
	}
	if _, err := c.EndpointProgrammed(ctx, "web", "", "x", 0); err == nil {
		t.Error("a question without a name: no error")
	}
	res, err := mem.List(ctx, kind(t, "endpointstatus"), store.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Items) != 0 {
		t.Errorf("EndpointStatus written with a derived-endpoint store: %v", res.Items)
	}
	// An endpoint added later is answered once programmed.
	put(t, mem, wepYAML("web", "late", "n1", "trl3", nil, "192.0.2.3/32"))
	late, err := mem.Get(ctx, kind(t, "workloadendpoint"), "web", "late")
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := c.EndpointProgrammed(ctx, "web", "late", string(late.GetUID()), 5*time.Second); !ok || err != nil {
		t.Errorf("late endpoint: programmed %v, err %v", ok, err)
	}
}
