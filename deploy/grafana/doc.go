// Package grafana holds the Grafana dashboard of a Trellis cluster, trellis.json (panels
// for dataplane sync durations, rule hits and drops by policy, IPAM utilisation per pool,
// BGP sessions, control-loop reconciles, admission webhook reviews, DNS queries and
// datastore reachability), embedded as Dashboard.
//
// Invariant: every PromQL query of the dashboard names only metrics that Trellis's
// components serve. The package's test starts a real datastore, node agent, cluster
// controllers and DNS server, makes each do something (a policy programmed, an address
// allocated, a webhook review, a DNS query), scrapes their /metrics and fails on any
// query naming a metric none of them exposes. A metric renamed in code must be renamed
// here in the same change.
package grafana

import _ "embed"

// Dashboard is trellis.json: import it into Grafana and pick the Prometheus data source.
//
//go:embed trellis.json
var Dashboard []byte
