package agent

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"sigs.k8s.io/knftables"

	"github.com/trellisnet/trellis/internal/agent/agentapi"
	"github.com/trellisnet/trellis/internal/dataplane/nft"
	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/service"
	"github.com/trellisnet/trellis/internal/store"
	"github.com/trellisnet/trellis/internal/store/memory"
)

const fakeService = `apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  clusterIP: 10.96.0.10
  ports: [{port: 80, targetPort: 8080}]
---
`

func fakeSlice(addrs ...string) string {
	s := "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: web, namespace: shop, labels: {kubernetes.io/service-name: web}}\naddressType: IPv4\nports: [{port: 8080}]\nendpoints:\n"
	for _, a := range addrs {
		s += "- addresses: [" + a + "]\n  nodeName: n1\n"
	}
	return s + "---\n"
}

func TestServiceChangesArePartialSyncs(t *testing.T) {
	mem := memory.New(1000)
	put(t, mem, nsYAML("shop")+wepYAML("shop", "a", "n1", "trla", nil, "10.65.0.2/32")+fakeService+fakeSlice("10.65.0.2"))
	fake := knftables.NewFake(knftables.InetFamily, "trellis")
	a := New(testConfig(t, "n1"), mem, Dataplane{NFT: fake}, testLogger(t))
	startAgent(t, a)
	waitTable := func(want ...string) {
		t.Helper()
		eventually(t, 5*time.Second, func() string {
			dump := fakeTable(fake)
			for _, w := range want {
				if !strings.Contains(dump, w) {
					return "table lacks " + w
				}
			}
			return ""
		})
	}
	waitTable("10.96.0.10 . tcp . 80 : goto svc-lb-", "dnat ip to 10.65.0.2:8080")
	before := a.Status()

	put(t, mem, fakeSlice("10.65.0.2", "10.65.0.3"))
	waitTable("dnat ip to 10.65.0.3:8080", "numgen random mod 2")
	s := a.Status()
	if s.LastSyncType != "partial" || s.Syncs <= before.Syncs {
		t.Errorf("after an endpoint change: last sync %q (%d syncs, %d before), want a partial one", s.LastSyncType, s.Syncs, before.Syncs)
	}
	body, code, err := agentapi.NewClient(a.cfg.StatusSocket).Get(context.Background(), "/metrics")
	if err != nil || code != 200 {
		t.Fatalf("scrape metrics: %d, %v", code, err)
	}
	for _, want := range []string{"trellis_agent_services 1", "trellis_agent_service_ports 1", "trellis_agent_service_endpoints 2"} {
		if !strings.Contains(string(body), want+"\n") {
			t.Errorf("metrics lack %q:\n%s", want, grepLines(string(body), "service"))
		}
	}

	if _, err := mem.Delete(context.Background(), kind(t, "services"), "shop", "web", store.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, func() string {
		if strings.Contains(fakeTable(fake), "10.96.0.10") {
			return "service address still programmed after the Service was deleted"
		}
		return ""
	})
	if s := a.Status(); s.LastSyncType != "partial" {
		t.Errorf("after a service deletion: last sync %q, want partial", s.LastSyncType)
	}
}

func TestRemovedUDPEndpoints(t *testing.T) {
	ep := func(s string) service.Endpoint {
		ap := netip.MustParseAddrPort(s)
		return service.Endpoint{Addr: ap.Addr(), Port: ap.Port()}
	}
	port := func(proto string, eps ...service.Endpoint) service.Port {
		return service.Port{Protocol: proto, Cluster: eps}
	}
	old := &service.State{Ports: []service.Port{
		port("udp", ep("10.65.0.3:53"), ep("10.65.0.2:53"), ep("10.65.0.4:53")),
		port("tcp", ep("10.65.0.5:80")),
		port("udp", ep("10.65.0.2:53")),
	}}
	cur := &service.State{Ports: []service.Port{
		port("udp", ep("10.65.0.2:53")),
		port("udp", ep("10.65.0.9:53")),
	}}
	got := removedUDPEndpoints(old, cur)
	want := []netip.AddrPort{netip.MustParseAddrPort("10.65.0.3:53"), netip.MustParseAddrPort("10.65.0.4:53")}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.AddrPort) bool { return a == b })); diff != "" {
		t.Errorf("removed UDP endpoints (-want +got):\n%s", diff)
	}
	if got := removedUDPEndpoints(cur, cur); len(got) != 0 {
		t.Errorf("no change gave %v", got)
	}
}

// TestServiceProxyIncremental feeds random Service and EndpointSlice changes (including
// slices moving between services) and checks that the incrementally computed state
// always equals a from-scratch Compute of the current objects.
func TestServiceProxyIncremental(t *testing.T) {
	a := New(testConfig(t, "n1"), memory.New(10), Dataplane{NFT: knftables.NewFake(knftables.InetFamily, "trellis")}, testLogger(t))
	p := a.policy.svc
	svcKind, sliceKind := kind(t, "services"), kind(t, "endpointslices.discovery.k8s.io")
	rng := rand.New(rand.NewPCG(1, 2))
	svcs := map[objKey]model.Object{}
	slices := map[objKey]model.Object{}
	for step := range 300 {
		i := rng.IntN(4)
		if rng.IntN(2) == 0 {
			k := objKey{kind: svcKind, namespace: "shop", name: fmt.Sprintf("s%d", i)}
			if rng.IntN(4) == 0 {
				delete(svcs, k)
				p.update(k, nil)
			} else {
				obj := decode(t, fmt.Sprintf("apiVersion: v1\nkind: Service\nmetadata: {name: s%d, namespace: shop}\nspec: {clusterIP: 10.96.0.%d, ports: [{port: %d}]}\n", i, i+1, 80+rng.IntN(2)))[0]
				svcs[k] = obj
				p.update(k, obj)
			}
		} else {
			k := objKey{kind: sliceKind, namespace: "shop", name: fmt.Sprintf("e%d", i)}
			if rng.IntN(4) == 0 {
				delete(slices, k)
				p.update(k, nil)
			} else {
				obj := decode(t, fmt.Sprintf("apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: e%d, namespace: shop, labels: {kubernetes.io/service-name: s%d}}\naddressType: IPv4\nports: [{port: 8080}]\nendpoints: [{addresses: [10.65.0.%d], nodeName: n%d}]\n",
					i, rng.IntN(4), rng.IntN(5)+2, rng.IntN(2)+1))[0]
				slices[k] = obj
				p.update(k, obj)
			}
		}
		if rng.IntN(3) > 0 {
			continue
		}
		p.render()
		in := service.Input{Node: "n1"}
		for _, o := range svcs {
			in.Services = append(in.Services, o.(*corev1.Service))
		}
		for _, o := range slices {
			in.Slices = append(in.Slices, o.(*discoveryv1.EndpointSlice))
		}
		if diff := cmp.Diff(service.Compute(in).String(), p.state.String()); diff != "" {
			t.Fatalf("step %d: incremental state differs (-scratch +incremental):\n%s", step, diff)
		}
		if got, want := p.table.String(), nft.RenderServices(nft.Config{}, p.state).String(); got != want {
			t.Fatalf("step %d: rendered table differs from RenderServices:\n%s", step, cmp.Diff(want, got))
		}
	}
}
