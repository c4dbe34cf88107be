// Package healthsrv is the health and metrics HTTP server of Trellis's long-running
// components (cluster controllers, DNS, datastore; the node agent has its own, which also
// serves its status): GET /healthz (liveness), /readyz (readiness), each 200 "ok" or 503
// with the reason, and /metrics (the component's Prometheus registry, text format).
//
// Invariants: Handler does no I/O; Start listens before it returns (a bad address is the
// caller's error at start, not a log line later) and serves in the background until Close
// or the end of its context. Addr "none" (Disabled) turns the server off.
//
// It must never decide what healthy means: the component passes its checks in.
package healthsrv
