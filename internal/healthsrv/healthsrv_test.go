package healthsrv

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/trellisnet/trellis/internal/metrictest"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	code, body, err := metrictest.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	return code, body
}

func TestServe(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "demo_total", Help: "demo"})
	reg.MustRegister(c)
	var notReady atomic.Bool
	notReady.Store(true)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := Start(ctx, Config{Addr: "127.0.0.1:0", Gatherer: reg, Ready: func() error {
		if notReady.Load() {
			return errors.New("not in sync yet")
		}
		return nil
	}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	base := "http://" + s.Addr()
	if code, body := get(t, base+"/healthz"); code != 200 || body != "ok" {
		t.Errorf("/healthz = %d %q", code, body)
	}
	if code, body := get(t, base+"/readyz"); code != 503 || body != "not in sync yet" {
		t.Errorf("/readyz before = %d %q, want 503 with the reason", code, body)
	}
	notReady.Store(false)
	if code, _ := get(t, base+"/readyz"); code != 200 {
		t.Errorf("/readyz after = %d, want 200", code)
	}
	c.Add(3)
	fams, err := metrictest.Scrape(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := fams.Value("demo_total", nil); !ok || v != 3 {
		t.Errorf("demo_total = %v (found %v), want 3", v, ok)
	}
	cancel()
	s.Close()
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Error("server still answers after Close")
	}
}

func TestDisabled(t *testing.T) {
	for _, addr := range []string{"", Disabled} {
		s, err := Start(context.Background(), Config{Addr: addr}, nil)
		if s != nil || err != nil {
			t.Errorf("Start(%q) = %v, %v; want nil, nil", addr, s, err)
		}
		s.Close()
	}
}

func TestBadAddress(t *testing.T) {
	if _, err := Start(context.Background(), Config{Addr: "127.0.0.1:notaport"}, nil); err == nil || !strings.Contains(err.Error(), "127.0.0.1:notaport") {
		t.Errorf("err = %v, want one naming the address", err)
	}
}
