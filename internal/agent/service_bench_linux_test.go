package agent

import (
	"context"
	"fmt"
	"os/exec"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/netns"
	"github.com/trellisnet/trellis/internal/store/memory"
	"github.com/trellisnet/trellis/internal/store/storetest"
	"github.com/trellisnet/trellis/internal/testnet"
)

// benchService returns Service i (ClusterIP 10.96.0.0/16 + i, TCP 80) and its slice of
// three endpoints; variant moves the first endpoint.
func benchService(i, variant int) (*corev1.Service, *discoveryv1.EndpointSlice) {
	name := fmt.Sprintf("svc%05d", i)
	svcKind, _ := model.Resolve("services")
	sliceKind, _ := model.Resolve("endpointslices.discovery.k8s.io")
	svc := svcKind.New().(*corev1.Service)
	svc.Name, svc.Namespace = name, "bench"
	svc.Spec.ClusterIP = fmt.Sprintf("10.96.%d.%d", (i+1)/256, (i+1)%256)
	svc.Spec.Ports = []corev1.ServicePort{{Port: 80, Protocol: corev1.ProtocolTCP}}
	sl := sliceKind.New().(*discoveryv1.EndpointSlice)
	sl.Name, sl.Namespace = name, "bench"
	sl.Labels = map[string]string{discoveryv1.LabelServiceName: name}
	sl.AddressType = discoveryv1.AddressTypeIPv4
	port, proto := int32(8080), corev1.ProtocolTCP
	sl.Ports = []discoveryv1.EndpointPort{{Port: &port, Protocol: &proto}}
	node := "other"
	for j := range 3 {
		v := 3*i + j + 1
		addr := fmt.Sprintf("10.70.%d.%d", v/256, v%256)
		if j == 0 && variant%2 == 1 {
			addr = fmt.Sprintf("10.71.%d.%d", i/256, i%256)
		}
		sl.Endpoints = append(sl.Endpoints, discoveryv1.Endpoint{Addresses: []string{addr}, NodeName: &node})
	}
	return svc, sl
}

// BenchmarkKernelServiceEndpointChange measures, with TRELLIS_BENCH_SERVICES (10k)
// services of three endpoints in the store, the time from writing a changed
// EndpointSlice to the agent having programmed it (a partial sync), and reports the
// initial full sync's duration.
func BenchmarkKernelServiceEndpointChange(b *testing.B) {
	testnet.RequireRoot(b)
	n := benchSize("TRELLIS_BENCH_SERVICES", 10000)
	ctx := context.Background()
	host := testnet.New(b, testnet.Config{})
	b.Cleanup(func() {
		_ = netns.Do(host.Host, func() error { return exec.Command("nft", "delete", "table", "inet", testTable).Run() })
	})
	dp, err := KernelDataplane(ctx, host.Host, testTable)
	if err != nil {
		b.Fatal(err)
	}
	st := memory.New(1000000)
	cfg := testConfig(b, "bench")
	cfg.TableName, cfg.Routing = testTable, RoutingOff
	a := New(cfg, st, dp, testLogger(b))
	for i := range n {
		svc, sl := benchService(i, 0)
		for _, obj := range []model.Object{svc, sl} {
			if err := storetest.Put(ctx, st, obj); err != nil {
				b.Fatal(err)
			}
		}
	}
	start := time.Now()
	startAgent(b, a)
	eventually(b, 10*time.Minute, func() string {
		if !a.Status().Ready {
			return "agent not ready"
		}
		return ""
	})
	initial := time.Since(start)
	v := 0
	for b.Loop() {
		v++
		before := a.Status().Syncs
		_, sl := benchService(0, v)
		if err := storetest.Put(ctx, st, sl); err != nil {
			b.Fatal(err)
		}
		for {
			s := a.Status()
			if s.Syncs > before {
				if s.LastSyncType != "partial" {
					b.Fatalf("endpoint change synced with a %s sync", s.LastSyncType)
				}
				break
			}
			time.Sleep(time.Millisecond)
		}
	}
	b.ReportMetric(initial.Seconds(), "initial-sync-s")
}
