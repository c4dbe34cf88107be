package flow

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The aggregator benchmark: benchAgents node agents push benchBatch flows each time,
// into a store of benchStoreSize flows (trellis ui's default --store-size).
const (
	benchAgents    = 10
	benchBatch     = 500
	benchStoreSize = 100000
)

// benchAgentFlows is one interval of agent a's flows: benchBatch distinct keys with the
// field sizes of a real cluster (generated pod names, a service, one or two policy hits).
func benchAgentFlows(a int) []Flow {
	out := make([]Flow, benchBatch)
	for i := range out {
		ns := fmt.Sprintf("shop-%02d", i%20)
		f := Flow{
			Source: Endpoint{Namespace: "storefront", Name: fmt.Sprintf("web-7d9f8c6b5-%05d", i/20),
				IP: fmt.Sprintf("10.65.%d.%d", a, i%250+1)},
			Destination: Endpoint{Namespace: ns, Name: fmt.Sprintf("orders-api-5c8d7f9b4-%05d", i), Service: ns + "/orders-api",
				IP: fmt.Sprintf("10.66.%d.%d", i/250, i%250+1), Port: 8080},
			Protocol: "tcp", Action: ActionAllow, Reporter: ReporterDestination, Node: fmt.Sprintf("node-%02d", a),
			Policies: []PolicyHit{{Tier: "default", Namespace: ns, Name: "allow-storefront", Kind: "NetworkPolicy",
				Rule: 0, RuleName: "from-web", Action: ActionAllow}},
			Connections: uint64(1 + i%7), Packets: uint64(12 + i%50), Bytes: uint64(4000 + 37*i),
		}
		if i%4 == 0 {
			f.Policies = append([]PolicyHit{{Tier: "security", Name: "cluster-baseline", Kind: "GlobalNetworkPolicy",
				Rule: 2, RuleName: "pass-workloads", Action: "pass"}}, f.Policies...)
		}
		if i%10 == 0 {
			f.Action, f.Policies[len(f.Policies)-1].Action, f.Policies[len(f.Policies)-1].Rule = ActionDeny, ActionDeny, -1
			f.Connections, f.Packets, f.Bytes = 3, 3, 180
		}
		out[i] = f
	}
	return out
}

// BenchmarkAggregatorPush: the flow aggregator (Handler over a Store, on a local HTTP
// server) with benchAgents agents pushing concurrently, each over its own connection,
// benchBatch flows per push (Client.Push), and one follower (Client.Follow) reading
// every flow the store takes. An op is one push. Reported: flows/s accepted end to end
// (pushes returned), what the follower received once it caught up (followed-%) and what
// it missed because it did not keep up (missed: the store drops for a slow subscriber
// by design).
func BenchmarkAggregatorPush(b *testing.B) {
	st := NewStore(benchStoreSize)
	srv := httptest.NewServer(Handler(st, time.Now))
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// The follower starts from the last stored flow, a marker: receiving it proves the
	// subscription exists before the first push.
	st.Add(Flow{Node: "marker", Start: t0, End: t0})
	var followed atomic.Uint64
	subscribed := make(chan struct{})
	followErr := make(chan error, 1)
	go func() {
		var once sync.Once
		followErr <- (&Client{Base: srv.URL}).Follow(ctx, Filter{}, 1, func(f Flow) error {
			if f.Node == "marker" {
				once.Do(func() { close(subscribed) })
				return nil
			}
			followed.Add(1)
			return nil
		})
	}()
	select {
	case <-subscribed:
	case err := <-followErr:
		b.Fatalf("follow: %v", err)
	case <-time.After(10 * time.Second):
		b.Fatal("the follower did not receive the stored marker in 10 s")
	}

	batches := make([][]Flow, benchAgents)
	for a := range batches {
		batches[a] = benchAgentFlows(a)
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, benchAgents)
	b.ResetTimer()
	start := time.Now()
	for a := range benchAgents {
		c := &Client{Base: srv.URL, HTTP: &http.Client{Transport: &http.Transport{}}}
		wg.Go(func() {
			defer c.HTTP.CloseIdleConnections()
			for i := next.Add(1); i <= int64(b.N); i = next.Add(1) {
				// Each push is a new interval of the agent's flows.
				for j := range batches[a] {
					batches[a][j].Start, batches[a][j].End = t0.Add(time.Duration(i)*15*time.Second), t0.Add(time.Duration(i+1)*15*time.Second)
				}
				if err := c.Push(ctx, batches[a]); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}

	// The follower has caught up when it received or lost every pushed flow; give up when
	// it makes no progress for a second.
	pushed := uint64(b.N) * benchBatch
	for last, idle := uint64(0), 0; followed.Load()+st.Dropped() < pushed && idle < 100; idle++ {
		if n := followed.Load(); n != last {
			last, idle = n, 0
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-followErr; err != nil {
		b.Fatalf("follow: %v", err)
	}
	b.ReportMetric(float64(pushed)/elapsed.Seconds(), "flows/s")
	b.ReportMetric(100*float64(followed.Load())/float64(pushed), "followed-%")
	b.ReportMetric(float64(st.Dropped()), "missed")
}
