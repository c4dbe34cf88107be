// Package ui serves Trellis's flow page: what the node agents saw of each connection,
// live, and why policy decided it.
//
// The page (title "Trellis flows") shows, under a header that counts the flows shown,
// allowed, denied and denied by a staged policy:
//   - a table of the most recent flows, newest first, at most 2,000, that follows the
//     flow API's newline-delimited JSON stream (and polls every two seconds when
//     streaming fails), with filters by namespace, pod, action, port and age that
//     restart the stream with those query parameters, and one that keeps only the flows
//     a staged policy would deny;
//   - an SVG graph of the workloads, one box per namespace (addresses outside the
//     cluster in a box of their own) in columns that make most edges run left to right,
//     and an edge per source, destination and port: green when allowed, red and dashed
//     when denied, amber when allowed but a staged policy would deny it;
//   - a side panel (id "trace") that explains the flow of a clicked row or edge with
//     its policy trace: at the source and at the destination, the verdict, the rule,
//     tier and policy that decided, what passed it on and what logged it, as sentences
//     and as the report's raw fields.
//
// Handler serves it all from the binary: the page at /, its plain JavaScript modules
// and its styles under /assets/ (go:embed, with fixed content types), the flow API at
// /api/v1/flows (flow.Handler) and POST /api/v1/trace, which answers one flow with the
// Tracer's report. Tracer is declared here, by its consumer.
//
// Invariants: the page loads nothing from another origin (its files name no other
// origin, and its Content-Security-Policy allows only 'self'); it references its
// files and the API by relative paths; it inserts flow data as text, never as HTML; a
// trace request carries exactly one flow with valid addresses, or is refused with 400.
//
// It must never decide a verdict itself: the flows carry the dataplane's and the
// Tracer the calculation's.
package ui
