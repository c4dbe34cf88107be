package ui_test

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/trellisnet/trellis/internal/connectivity"
	"github.com/trellisnet/trellis/internal/flow"
)

// base is the clock of the tests' handlers: the flows below ended in the minutes before.
var base = time.Date(2026, 12, 7, 16, 0, 0, 0, time.UTC)

func clock() time.Time { return base }

func hit(tier, ns, name, kind string, rule int, action string) flow.PolicyHit {
	return flow.PolicyHit{Tier: tier, Namespace: ns, Name: name, Kind: kind, Rule: rule, Action: action}
}

func tcp(src, dst flow.Endpoint, ago time.Duration, action, reporter string, policies ...flow.PolicyHit) flow.Flow {
	end := base.Add(-ago)
	return flow.Flow{Start: end.Add(-time.Minute), End: end, Source: src, Destination: dst, Protocol: "tcp",
		Action: action, Reporter: reporter, Node: "node-1", Policies: policies,
		Connections: 4, Packets: 60, Bytes: 12_800}
}

var (
	frontend = flow.Endpoint{Namespace: "shop", Name: "frontend", IP: "192.0.2.10"}
	cart     = flow.Endpoint{Namespace: "shop", Name: "cart", IP: "192.0.2.20"}
	outside  = flow.Endpoint{IP: "203.0.113.7"}
)

func dest(e flow.Endpoint, port int) flow.Endpoint {
	e.Port = port
	return e
}

// testFlows are five flows, oldest first: two allowed ones, one denied by a Deny rule,
// one denied at the end of a tier, and an allowed one that a staged policy would deny.
func testFlows() []flow.Flow {
	dns := tcp(frontend, flow.Endpoint{Namespace: "kube-system", Name: "coredns", IP: "192.0.2.53", Port: 53,
		Service: "kube-system/kube-dns"}, 5*time.Minute, flow.ActionAllow, flow.ReporterSource,
		hit("default", "shop", "allow-dns", "NetworkPolicy", 0, flow.ActionAllow))
	dns.Protocol = "udp"
	pending := tcp(cart, dest(flow.Endpoint{Namespace: "db", Name: "redis", IP: "192.0.2.31"}, 6379), time.Minute,
		flow.ActionAllow, flow.ReporterSource, hit("default", "shop", "cart-egress", "NetworkPolicy", 0, flow.ActionAllow))
	pending.Pending = []flow.PolicyHit{hit("default", "db", "redis-lockdown", "StagedNetworkPolicy", -1, flow.ActionDeny)}
	return []flow.Flow{
		dns,
		tcp(frontend, dest(cart, 8080), 4*time.Minute, flow.ActionAllow, flow.ReporterDestination,
			hit("default", "shop", "cart-ingress", "NetworkPolicy", 0, flow.ActionAllow)),
		tcp(frontend, dest(flow.Endpoint{Namespace: "db", Name: "postgres", IP: "192.0.2.30"}, 5432), 3*time.Minute,
			flow.ActionDeny, flow.ReporterDestination,
			hit("security", "", "deny-to-db", "GlobalNetworkPolicy", 1, flow.ActionDeny)),
		tcp(outside, dest(frontend, 443), 2*time.Minute, flow.ActionDeny, flow.ReporterDestination,
			hit("default", "shop", "frontend-ingress", "NetworkPolicy", -1, flow.ActionDeny)),
		pending,
	}
}

func intp(i int) *int { return &i }

// reports are the fake tracer's answers, by destination address and port.
var reports = map[string]connectivity.TraceReport{
	"192.0.2.30:5432": {Verdict: "deny", From: "shop/frontend", To: "db/postgres", Port: "tcp/5432",
		Egress: connectivity.DecisionReport{Verdict: "allow", Endpoint: "workload/shop/frontend", Reason: "rule",
			Tier: "default", Policy: "frontend-egress", Namespace: "shop", Kind: "NetworkPolicy", Rule: intp(0)},
		Ingress: connectivity.DecisionReport{Verdict: "deny", Endpoint: "workload/db/postgres", Reason: "rule",
			Tier: "security", Policy: "deny-to-db", Kind: "GlobalNetworkPolicy", Rule: intp(1),
			Logged: []string{"deny-to-db rule 0"}}},
	"192.0.2.10:443": {Verdict: "deny", From: "203.0.113.7", To: "shop/frontend", Port: "tcp/443",
		Egress: connectivity.DecisionReport{Verdict: "allow", Reason: "no policy"},
		Ingress: connectivity.DecisionReport{Verdict: "deny", Endpoint: "workload/shop/frontend", Reason: "end of tier",
			Tier: "default", Passed: []string{"tier security: default action"}}},
}

// fakeTracer answers from reports and records the flows it was asked about.
type fakeTracer struct {
	mu   sync.Mutex
	err  error
	seen []flow.Flow
}

func (f *fakeTracer) Trace(_ context.Context, fl flow.Flow) (connectivity.TraceReport, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seen = append(f.seen, fl)
	if f.err != nil {
		return connectivity.TraceReport{}, f.err
	}
	key := fmt.Sprintf("%s:%d", fl.Destination.IP, fl.Destination.Port)
	rep, ok := reports[key]
	if !ok {
		return connectivity.TraceReport{}, fmt.Errorf("no report for %s", key)
	}
	return rep, nil
}

func (f *fakeTracer) flows() []flow.Flow {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]flow.Flow(nil), f.seen...)
}
