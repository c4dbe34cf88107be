package embed_test

import (
	"context"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/trellisnet/trellis/internal/healthsrv"
	"github.com/trellisnet/trellis/internal/metrictest"
	"github.com/trellisnet/trellis/internal/store/embed"
)

// TestHealthAndMetrics serves a member's readiness and etcd's metrics as `datastore run
// --health-addr` does: ready with a leader, etcd's own counters move with a write, not
// ready once stopped.
func TestHealthAndMetrics(t *testing.T) {
	dir := t.TempDir()
	sock := "unix://" + filepath.Join(dir, "client.sock")
	srv, err := start(t, filepath.Join(dir, "data"), sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	hs, err := healthsrv.Start(ctx, healthsrv.Config{Addr: "127.0.0.1:0", Gatherer: embed.Gatherer(), Ready: srv.Ready}, nil)
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + hs.Addr()
	readyz := func() int {
		code, _, err := metrictest.Get(base + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		return code
	}
	if code := readyz(); code != http.StatusOK {
		t.Errorf("/readyz of a running member = %d, want 200", code)
	}
	before, err := metrictest.Scrape(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := before.Value("etcd_server_has_leader", nil); !ok || v != 1 {
		t.Errorf("etcd_server_has_leader = %v (found %v), want 1", v, ok)
	}
	if err := put(t, sock, "/trl/metrics"); err != nil {
		t.Fatal(err)
	}
	after, err := metrictest.Scrape(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := before.Value("etcd_mvcc_put_total", nil)
	if a, ok := after.Value("etcd_mvcc_put_total", nil); !ok || a <= b {
		t.Errorf("etcd_mvcc_put_total %v -> %v (found %v): a put was not counted", b, a, ok)
	}
	srv.Stop()
	if code := readyz(); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz of a stopped member = %d, want 503", code)
	}
}
