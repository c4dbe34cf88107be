package controller

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/trellisnet/trellis/internal/healthsrv"
	"github.com/trellisnet/trellis/internal/ipam"
	"github.com/trellisnet/trellis/internal/ipam/ipamstore"
	"github.com/trellisnet/trellis/internal/metrictest"
	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/store/memory"
)

// TestMetricsServed runs the controllers with their health and metrics server and checks
// from outside that the loops' runs are counted and that an IP allocation moves its
// pool's utilisation.
func TestMetricsServed(t *testing.T) {
	st := memory.New(0)
	c, err := New(DefaultConfig(), st, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait(); st.Close() })
	srv, err := healthsrv.Start(ctx, healthsrv.Config{Addr: "127.0.0.1:0", Gatherer: c.Gatherer(), Ready: c.Ready}, nil)
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + srv.Addr()
	if code := status(t, base+"/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz before Run = %d, want 503", code)
	}
	wg.Go(func() { _ = c.Run(ctx) })
	eventually(t, "ready", func() string {
		if code := status(t, base+"/readyz"); code != http.StatusOK {
			return fmt.Sprintf("/readyz %d", code)
		}
		return ""
	})
	pool := lbPool("pods", "10.244.0.0/16", model.AllowedUseWorkload)
	pool.TypeMeta = metav1.TypeMeta{APIVersion: model.APIVersionCalico, Kind: "IPPool"}
	create(t, st, pool)
	s := svc("web", 0, nil)
	s.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "Service"}
	create(t, st, s)
	pods := map[string]string{"pool": "pods", "cidr": "10.244.0.0/16"}
	eventually(t, "services loop ran for the new service, pool empty", func() string {
		return expect(base, []sample{
			{"trellis_loop_runs_total", map[string]string{"loop": LoopServices, "reason": "triggered"}, -1},
			{"trellis_ipam_pool_capacity_addresses", pods, 65536},
			{"trellis_ipam_pool_allocated_addresses", pods, 0},
			{"trellis_ipam_pool_blocks", pods, 0},
			{"trellis_datastore_up", nil, 1},
		})
	})
	a := ipam.New(ipamstore.New(st), ipamstore.Match)
	in, err := ipamstore.Load(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.AutoAssign(context.Background(), ipam.AssignArgs{Node: "n1", Handle: "h1", Num4: 3, Pools: in.Pools}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "allocation counted", func() string {
		return expect(base, []sample{
			{"trellis_ipam_pool_allocated_addresses", pods, 3},
			{"trellis_ipam_pool_blocks", pods, 1},
			{"trellis_ipam_pool_block_addresses", pods, 64},
		})
	})
}

// sample is a wanted metric value; want -1: any positive value.
type sample struct {
	name   string
	labels map[string]string
	want   float64
}

// expect scrapes base's /metrics and returns "" when every sample has its value.
func expect(base string, want []sample) string {
	fams, err := metrictest.Scrape(base + "/metrics")
	if err != nil {
		return err.Error()
	}
	for _, s := range want {
		got, ok := fams.Value(s.name, s.labels)
		if !ok || (s.want < 0 && got <= 0) || (s.want >= 0 && got != s.want) {
			return fmt.Sprintf("%s%v = %v (found %v), want %v", s.name, s.labels, got, ok, s.want)
		}
	}
	return ""
}

func status(t *testing.T, url string) int {
	t.Helper()
	code, _, err := metrictest.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	return code
}
