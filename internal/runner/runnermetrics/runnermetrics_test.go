package runnermetrics

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/trellisnet/trellis/internal/metrictest"
	"github.com/trellisnet/trellis/internal/runner"
)

// TestRunsOfARealRunner drives a real runner with a failing then succeeding run and reads
// the metrics it produced from the registry.
func TestRunsOfARealRunner(t *testing.T) {
	m := New()
	reg := prometheus.NewRegistry()
	reg.MustRegister(m.Collectors()...)
	m.Declare("idle")
	r := runner.New(runner.Config{Start: true, Retry: time.Millisecond, Name: "demo", Observer: m})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	n := 0
	before := float64(time.Now().Unix())
	go func() {
		defer close(done)
		r.Run(ctx, func(context.Context, runner.Reason) error {
			switch n++; n {
			case 1:
				return errors.New("injected")
			case 2:
				return nil
			}
			cancel()
			return nil
		})
	}()
	time.Sleep(20 * time.Millisecond)
	r.Trigger()
	<-done
	fams, err := metrictest.Gather(reg)
	if err != nil {
		t.Fatal(err)
	}
	// The third run ended after its context: it is not reported.
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"trellis_loop_errors_total", map[string]string{"loop": "demo"}, 1},
		{"trellis_loop_errors_total", map[string]string{"loop": "idle"}, 0},
		{"trellis_loop_runs_total", map[string]string{"loop": "demo", "reason": "start"}, 1},
		{"trellis_loop_runs_total", map[string]string{"loop": "demo", "reason": "retry"}, 1},
		{"trellis_loop_runs_total", map[string]string{"loop": "demo"}, 2},
		{"trellis_loop_run_duration_seconds", map[string]string{"loop": "demo"}, 2},
		{"trellis_loop_run_duration_seconds", map[string]string{"loop": "idle"}, 0},
	} {
		if got, ok := fams.Value(c.name, c.labels); !ok || got != c.want {
			t.Errorf("%s%v = %v (found %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
	if got, _ := fams.Value("trellis_loop_last_success_timestamp_seconds", map[string]string{"loop": "demo"}); got < before {
		t.Errorf("last success %v, want >= %v", got, before)
	}
}
