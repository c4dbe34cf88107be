package dns

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/trellisnet/trellis/internal/healthsrv"
	"github.com/trellisnet/trellis/internal/metrictest"
	"github.com/trellisnet/trellis/internal/store/memory"
)

// TestMetricsServed queries a running server and checks from its /metrics that the
// queries were counted by type and response code, timed, and their records counted.
func TestMetricsServed(t *testing.T) {
	st := memory.New(0)
	defer st.Close()
	if _, err := st.Create(context.Background(), service("yaobank", "summary", "10.96.0.50", nil)); err != nil {
		t.Fatal(err)
	}
	srv := New(Config{Listen: "127.0.0.1:0"}, st, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	hs, err := healthsrv.Start(ctx, healthsrv.Config{Addr: "127.0.0.1:0", Gatherer: srv.Gatherer(), Ready: srv.Ready}, nil)
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + hs.Addr()
	addr := make(chan string, 1)
	wg.Go(func() {
		if err := srv.Run(ctx, func(udp, _ net.Addr) { addr <- udp.String() }); err != nil {
			t.Errorf("run: %v", err)
			close(addr)
		}
	})
	dnsAddr := <-addr
	waitFor(t, func() string {
		code, body, err := metrictest.Get(base + "/readyz")
		switch {
		case err != nil:
			return err.Error()
		case code != http.StatusOK:
			return fmt.Sprintf("/readyz %d %s", code, body)
		}
		return ""
	})
	before := scrape(t, base)
	for range 2 {
		query(t, dnsAddr, "summary.yaobank.svc.cluster.local", mdns.TypeA, "udp")
	}
	query(t, dnsAddr, "missing.yaobank.svc.cluster.local", mdns.TypeAAAA, "tcp")
	after := scrape(t, base)
	for _, c := range []struct {
		name   string
		labels map[string]string
		delta  float64
	}{
		{"trellis_dns_queries_total", map[string]string{"type": "A", "rcode": "NOERROR"}, 2},
		{"trellis_dns_queries_total", map[string]string{"type": "AAAA", "rcode": "NXDOMAIN"}, 1},
		{"trellis_dns_answer_records_total", map[string]string{"type": "A"}, 2},
		{"trellis_dns_request_duration_seconds", map[string]string{"proto": "udp"}, 2},
		{"trellis_dns_request_duration_seconds", map[string]string{"proto": "tcp"}, 1},
	} {
		b, _ := before.Value(c.name, c.labels)
		a, ok := after.Value(c.name, c.labels)
		if !ok || a-b != c.delta {
			t.Errorf("%s%v went from %v to %v (found %v), want +%v", c.name, c.labels, b, a, ok, c.delta)
		}
	}
	if v, ok := after.Value("trellis_dns_services", nil); !ok || v != 1 {
		t.Errorf("trellis_dns_services = %v (found %v), want 1", v, ok)
	}
}

func scrape(t *testing.T, base string) metrictest.Families {
	t.Helper()
	f, err := metrictest.Scrape(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func waitFor(t *testing.T, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	msg := ""
	for time.Now().Before(deadline) {
		if msg = cond(); msg == "" {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal(msg)
}
