package runner

import (
	"context"
	"time"
)

// Reason says what started a run.
type Reason int

const (
	// Start is the first run when Config.Start is set.
	Start Reason = iota
	// Triggered runs follow one or more calls of Trigger.
	Triggered
	// Resync runs come every Config.Resync.
	Resync
	// Retry runs follow a failed run after the backoff.
	Retry
)

func (r Reason) String() string {
	switch r {
	case Start:
		return "start"
	case Triggered:
		return "triggered"
	case Resync:
		return "resync"
	case Retry:
		return "retry"
	}
	return "unknown"
}

// Config is a runner's timing. The zero value runs on triggers only, at once, and never
// retries.
type Config struct {
	// Start makes Run run once at start without waiting for a trigger.
	Start bool
	// Coalesce is how long a triggered run waits for further triggers, which it absorbs.
	Coalesce time.Duration
	// MinInterval is the least time between the starts of two runs (the rate limit);
	// triggers meanwhile are coalesced into the next run.
	MinInterval time.Duration
	// Resync is the period of runs with Reason Resync; zero: none.
	Resync time.Duration
	// Retry is the delay before a failed run is run again, doubled after each further
	// consecutive failure up to MaxRetry (MaxRetry <= Retry: always Retry); zero: a failed
	// run is not retried (the next trigger or resync runs again).
	Retry, MaxRetry time.Duration
	// OnError, when set, is called after a failed run with its error and the delay
	// before the retry.
	OnError func(err error, retryIn time.Duration)
	// Name names the loop to Observer.
	Name string
	// Observer, when set, is told about every run that ends while the context is live.
	Observer Observer
}

// Observer learns of each run of a loop: its reason, duration and result. Ran is called on
// the runner's goroutine and must not block (a metrics recorder).
type Observer interface {
	Ran(loop string, why Reason, took time.Duration, err error)
}

// Func is one run; a non-nil error schedules a retry.
type Func func(ctx context.Context, why Reason) error

// Runner runs a Func as Config says. Create it with New; Trigger is safe to call from any
// goroutine, also before Run.
type Runner struct {
	cfg  Config
	wake chan struct{}
}

// New returns a runner; it does no I/O and starts no goroutines.
func New(cfg Config) *Runner {
	return &Runner{cfg: cfg, wake: make(chan struct{}, 1)}
}

// Trigger asks for a run without blocking; triggers before the run starts are coalesced.
func (r *Runner) Trigger() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run runs fn as configured until ctx ends. It returns when ctx ends, after the run in
// progress (if any) returns.
func (r *Runner) Run(ctx context.Context, fn Func) {
	var resync <-chan time.Time
	if r.cfg.Resync > 0 {
		t := time.NewTicker(r.cfg.Resync)
		defer t.Stop()
		resync = t.C
	}
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	var backoff time.Duration
	var last time.Time
	why, ok := Start, r.cfg.Start
	if !ok {
		why, ok = r.wait(ctx, resync, retry.C)
	}
	for ok {
		if !r.limit(ctx, why, last) {
			return
		}
		last = time.Now()
		err := fn(ctx, why)
		if ctx.Err() != nil {
			return
		}
		if r.cfg.Observer != nil {
			r.cfg.Observer.Ran(r.cfg.Name, why, time.Since(last), err)
		}
		if err != nil {
			backoff = r.next(backoff)
			if backoff > 0 {
				retry.Reset(backoff)
			}
			if r.cfg.OnError != nil {
				r.cfg.OnError(err, backoff)
			}
		} else {
			backoff = 0
			retry.Stop()
		}
		why, ok = r.wait(ctx, resync, retry.C)
	}
}

// wait blocks until something asks for a run; false when ctx ended.
func (r *Runner) wait(ctx context.Context, resync, retry <-chan time.Time) (Reason, bool) {
	select {
	case <-ctx.Done():
		return 0, false
	case <-r.wake:
		return Triggered, true
	case <-resync:
		return Resync, true
	case <-retry:
		return Retry, true
	}
}

// limit waits for Coalesce (triggered runs) and until MinInterval after the last start;
// false when ctx ended meanwhile.
func (r *Runner) limit(ctx context.Context, why Reason, last time.Time) bool {
	if why == Triggered && r.cfg.Coalesce > 0 {
		if !Sleep(ctx, r.cfg.Coalesce) {
			return false
		}
		select { // triggers during the wait are this run's
		case <-r.wake:
		default:
		}
	}
	if d := r.cfg.MinInterval - time.Since(last); d > 0 {
		return Sleep(ctx, d)
	}
	return ctx.Err() == nil
}

// next is the backoff after one more failure.
func (r *Runner) next(backoff time.Duration) time.Duration {
	if r.cfg.Retry <= 0 {
		return 0
	}
	return min(max(2*backoff, r.cfg.Retry), max(r.cfg.MaxRetry, r.cfg.Retry))
}

// Sleep waits for d or the end of ctx, and reports whether ctx is still live.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
