package runner

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// recorder is a Func that records its runs and fails while fail says so.
type recorder struct {
	mu    sync.Mutex
	at    []time.Time
	why   []Reason
	fail  func(n int) bool // n: 1 for the first run
	block chan struct{}    // when set, the first run waits for it
}

func (r *recorder) run(ctx context.Context, why Reason) error {
	r.mu.Lock()
	r.at = append(r.at, time.Now())
	r.why = append(r.why, why)
	n := len(r.at)
	r.mu.Unlock()
	if n == 1 && r.block != nil {
		<-r.block
	}
	if r.fail != nil && r.fail(n) {
		return errors.New("injected")
	}
	return nil
}

func (r *recorder) runs() ([]time.Time, []Reason) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Time(nil), r.at...), append([]Reason(nil), r.why...)
}

// start runs fn on r until the test ends; the returned stop cancels and waits.
func start(t *testing.T, r *Runner, fn Func) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.Run(ctx, fn)
	}()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("Run did not return within 5s of the end of its context")
		}
	}
	t.Cleanup(stop)
	return stop
}

func waitRuns(t *testing.T, rec *recorder, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if at, _ := rec.runs(); len(at) >= n {
			return
		}
		if time.Now().After(deadline) {
			at, _ := rec.runs()
			t.Fatalf("%d runs after 5s, want %d", len(at), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestStartAndTrigger(t *testing.T) {
	for _, tc := range []struct {
		name  string
		start bool
		want  []Reason
	}{
		{"start", true, []Reason{Start, Triggered}},
		{"no start", false, []Reason{Triggered}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{}
			r := New(Config{Start: tc.start})
			start(t, r, rec.run)
			if tc.start {
				waitRuns(t, rec, 1)
			} else {
				time.Sleep(50 * time.Millisecond)
				if at, _ := rec.runs(); len(at) != 0 {
					t.Fatalf("%d runs before any trigger, want none", len(at))
				}
			}
			r.Trigger()
			waitRuns(t, rec, len(tc.want))
			time.Sleep(50 * time.Millisecond)
			if _, why := rec.runs(); !equal(why, tc.want) {
				t.Errorf("runs %v, want %v", why, tc.want)
			}
		})
	}
}

func TestTriggersDuringARunAreCoalesced(t *testing.T) {
	rec := &recorder{block: make(chan struct{})}
	r := New(Config{})
	start(t, r, rec.run)
	r.Trigger()
	waitRuns(t, rec, 1)
	for range 100 {
		r.Trigger()
	}
	close(rec.block)
	waitRuns(t, rec, 2)
	time.Sleep(100 * time.Millisecond)
	if at, _ := rec.runs(); len(at) != 2 {
		t.Errorf("100 triggers during a run gave %d more runs, want 1", len(at)-1)
	}
}

func TestCoalesceAbsorbsTriggersOfItsWindow(t *testing.T) {
	rec := &recorder{}
	r := New(Config{Coalesce: 500 * time.Millisecond})
	start(t, r, rec.run)
	r.Trigger()
	time.Sleep(50 * time.Millisecond) // inside the window
	r.Trigger()
	waitRuns(t, rec, 1)
	time.Sleep(800 * time.Millisecond)
	if at, _ := rec.runs(); len(at) != 1 {
		t.Errorf("two triggers within the coalesce window gave %d runs, want 1", len(at))
	}
}

func TestMinIntervalLimitsTheRate(t *testing.T) {
	const limit = 100 * time.Millisecond
	rec := &recorder{}
	r := New(Config{MinInterval: limit})
	start(t, r, rec.run)
	until := time.Now().Add(550 * time.Millisecond)
	for time.Now().Before(until) {
		r.Trigger()
		time.Sleep(time.Millisecond)
	}
	at, _ := rec.runs()
	if len(at) < 2 || len(at) > 7 {
		t.Errorf("%d runs in 550ms of triggers with a %s limit, want 2 to 7", len(at), limit)
	}
	for i := 1; i < len(at); i++ {
		if d := at[i].Sub(at[i-1]); d < limit {
			t.Errorf("runs %d and %d started %s apart, want at least %s", i-1, i, d, limit)
		}
	}
}

func TestRetryBacksOff(t *testing.T) {
	const retry, maxRetry = 20 * time.Millisecond, 80 * time.Millisecond
	for _, tc := range []struct {
		name        string
		cfg         Config
		fail        func(n int) bool
		runs        int
		wantBackoff []time.Duration
	}{
		{"doubling to the maximum", Config{Start: true, Retry: retry, MaxRetry: maxRetry},
			func(int) bool { return true }, 6, []time.Duration{20, 40, 80, 80, 80}},
		{"fixed", Config{Start: true, Retry: retry},
			func(int) bool { return true }, 4, []time.Duration{20, 20, 20}},
		{"success resets", Config{Start: true, Retry: retry, MaxRetry: maxRetry},
			func(n int) bool { return n != 3 }, 5, []time.Duration{20, 40, 20, 40}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			var backoffs []time.Duration
			tc.cfg.OnError = func(err error, in time.Duration) {
				mu.Lock()
				backoffs = append(backoffs, in/time.Millisecond)
				mu.Unlock()
			}
			rec := &recorder{fail: tc.fail}
			r := New(tc.cfg)
			stop := start(t, r, rec.run)
			if tc.name == "success resets" {
				waitRuns(t, rec, 3)
				r.Trigger() // the success cancelled the retry: only a trigger runs again
			}
			waitRuns(t, rec, tc.runs)
			stop()
			at, why := rec.runs()
			mu.Lock()
			defer mu.Unlock()
			if got := backoffs[:len(tc.wantBackoff)]; !equal(got, tc.wantBackoff) {
				t.Errorf("backoffs %v ms, want %v ms", got, tc.wantBackoff)
			}
			failures := 0 // before run i
			for i := 1; i < tc.runs; i++ {
				if tc.fail(i) { // run i-1 (numbered i) failed
					failures++
				}
				if why[i] != Retry {
					continue
				}
				if d, want := at[i].Sub(at[i-1]), backoffs[failures-1]*time.Millisecond; d < want {
					t.Errorf("retry %d ran %s after the failure, want at least %s", i, d, want)
				}
			}
		})
	}
}

func TestResync(t *testing.T) {
	rec := &recorder{}
	r := New(Config{Resync: 20 * time.Millisecond})
	start(t, r, rec.run)
	waitRuns(t, rec, 3)
	if _, why := rec.runs(); !equal(why[:3], []Reason{Resync, Resync, Resync}) {
		t.Errorf("runs %v, want resyncs", why)
	}
}

func TestStopsWhenTheContextEnds(t *testing.T) {
	t.Run("waiting", func(t *testing.T) {
		rec := &recorder{}
		stop := start(t, New(Config{Resync: time.Hour}), rec.run)
		stop()
	})
	t.Run("rate limited", func(t *testing.T) {
		rec := &recorder{}
		r := New(Config{Start: true, MinInterval: time.Hour})
		stop := start(t, r, rec.run)
		waitRuns(t, rec, 1)
		r.Trigger()
		time.Sleep(20 * time.Millisecond)
		stop()
		if at, _ := rec.runs(); len(at) != 1 {
			t.Errorf("%d runs, want 1: a run started after the context ended", len(at))
		}
	})
	t.Run("retry pending", func(t *testing.T) {
		rec := &recorder{fail: func(int) bool { return true }}
		stop := start(t, New(Config{Start: true, Retry: time.Hour}), rec.run)
		waitRuns(t, rec, 1)
		stop()
	})
}

func equal[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// observed records what an Observer is told.
type observed struct {
	mu   sync.Mutex
	runs []string
}

func (o *observed) Ran(loop string, why Reason, took time.Duration, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.runs = append(o.runs, loop+" "+why.String()+" "+fmt.Sprint(err != nil, took >= 0))
}

func (o *observed) get() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.runs...)
}

// TestObserver: every finished run is reported once, with its loop name, reason and
// whether it failed.
func TestObserver(t *testing.T) {
	obs := &observed{}
	r := New(Config{Start: true, Retry: time.Millisecond, Name: "demo", Observer: obs})
	rec := &recorder{fail: func(n int) bool { return n == 1 }}
	stop := start(t, r, rec.run)
	deadline := time.Now().Add(5 * time.Second)
	for len(obs.get()) < 2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	stop()
	got := obs.get()
	want := []string{"demo start true true", "demo retry false true"}
	if len(got) < 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("observed %q, want %q first", got, want)
	}
}
