// Package runner is the one loop every control loop of Trellis runs on (the agent's
// policy and routing loops, the cluster controllers): it coalesces triggers, limits the
// rate of runs, runs periodically (resync) and retries a failed run with a backoff.
//
// A loop's watch handlers only call Trigger; the work happens in the function given to
// Run, on Run's goroutine, one run at a time:
//
//   - triggers arriving while a run is waiting or running are coalesced into one next run;
//   - Coalesce delays a triggered run so that a burst of triggers costs one run;
//   - MinInterval is the least time between the starts of two runs, whatever started them;
//   - Resync runs periodically with Reason Resync;
//   - a failed run (a non-nil error) is run again with Reason Retry after Retry, doubled
//     after each further failure up to MaxRetry; a successful run resets the backoff and
//     cancels a pending retry.
//
// Invariants: New does no I/O and starts no goroutines; Run calls the function on its own
// goroutine only, never concurrently with itself, and returns promptly when its context
// ends (no run starts after that). Trigger never blocks.
//
// Config.Observer, when set, is told of every run (loop name, reason, duration, error): the
// one place loops are instrumented (runner/runnermetrics turns it into Prometheus metrics).
//
// It must never know what a run does: no logging of its own, no store, no kernel. Errors
// are the run function's to log (or Config.OnError's).
package runner
