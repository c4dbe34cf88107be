// Package runnermetrics records the runs of control loops (runner.Observer) as Prometheus
// metrics labelled by loop name, so every loop on internal/runner (the agent's policy and
// routing loops, the cluster controllers) is measured the same way:
//
//	trellis_loop_runs_total{loop,reason}              runs that ended (reason: start, triggered, resync, retry)
//	trellis_loop_errors_total{loop}                   runs that returned an error
//	trellis_loop_run_duration_seconds{loop}           histogram of run durations
//	trellis_loop_last_success_timestamp_seconds{loop} Unix time of the end of the last successful run
//
// Invariants: Ran never blocks and never fails; the metrics live in the registry the caller
// gives them to (no global registration), so several components can share a process.
//
// It must never know what a loop does: it sees names, reasons, durations and errors only.
package runnermetrics
