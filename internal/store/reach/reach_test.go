package reach

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/store"
	"github.com/trellisnet/trellis/internal/store/memory"
)

// flaky is a memory store whose Get fails with ErrUnavailable while down is set.
type flaky struct {
	*memory.Store
	down atomic.Bool
}

func (f *flaky) Get(ctx context.Context, k *model.Kind, ns, name string) (model.Object, error) {
	if f.down.Load() {
		return nil, fmt.Errorf("get %s: %w", name, store.ErrUnavailable)
	}
	return f.Store.Get(ctx, k, ns, name)
}

func value(t *testing.T, c prometheus.Collector) float64 {
	t.Helper()
	ch := make(chan prometheus.Metric, 1)
	c.Collect(ch)
	var m dto.Metric
	if err := (<-ch).Write(&m); err != nil {
		t.Fatal(err)
	}
	if m.Gauge != nil {
		return m.GetGauge().GetValue()
	}
	return m.GetCounter().GetValue()
}

// TestMonitor: a failing probe marks the store down (reason names the endpoint, gauge 0),
// an answer (ErrNotFound included) marks it up again, closes Back's channel once and counts
// a reconnect.
func TestMonitor(t *testing.T) {
	st := &flaky{Store: memory.New(10)}
	m := New(Config{Endpoint: "unix:///run/test.sock", Period: 5 * time.Millisecond}, st, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go m.Run(ctx)
	back := m.Back()
	st.down.Store(true)
	waitFor(t, func() bool { return !m.State().Up })
	if r := m.Reason(); !strings.HasPrefix(r, "datastore unreachable since ") || !strings.Contains(r, "unix:///run/test.sock: ") {
		t.Errorf("reason = %q", r)
	}
	if v := value(t, m.up); v != 0 {
		t.Errorf("trellis_datastore_up = %v while down", v)
	}
	select {
	case <-back:
		t.Fatal("back closed while down")
	default:
	}
	st.down.Store(false)
	select {
	case <-back:
	case <-time.After(5 * time.Second):
		t.Fatal("back not closed after the store answered")
	}
	if !m.State().Up || m.Reason() != "" || value(t, m.up) != 1 || value(t, m.reconnects) != 1 {
		t.Errorf("after return: state %+v, reason %q, up %v, reconnects %v", m.State(), m.Reason(), value(t, m.up), value(t, m.reconnects))
	}
	m.Observe(fmt.Errorf("list: %w", store.ErrUnavailable))
	if m.State().Up {
		t.Error("Observe(ErrUnavailable) left the store up")
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
	}
}
