package grafana

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/knftables"

	"github.com/trellisnet/trellis/internal/admission"

	"github.com/trellisnet/trellis/internal/agent"
	"github.com/trellisnet/trellis/internal/agent/agentapi"
	"github.com/trellisnet/trellis/internal/controller"
	"github.com/trellisnet/trellis/internal/dns"
	"github.com/trellisnet/trellis/internal/healthsrv"
	"github.com/trellisnet/trellis/internal/ipam"
	"github.com/trellisnet/trellis/internal/ipam/ipamstore"
	"github.com/trellisnet/trellis/internal/metrictest"
	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/store"
	"github.com/trellisnet/trellis/internal/store/embed"
	"github.com/trellisnet/trellis/internal/store/etcd"
)

// dashboard is the part of trellis.json the test reads.
type dashboard struct {
	Title  string `json:"title"`
	UID    string `json:"uid"`
	Panels []struct {
		Title   string `json:"title"`
		Type    string `json:"type"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
	} `json:"panels"`
}

// queries are the dashboard's PromQL expressions as "panel title: expr".
func queries(t *testing.T, data []byte) map[string]string {
	t.Helper()
	var d dashboard
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("trellis.json: %v", err)
	}
	if d.Title == "" || d.UID == "" {
		t.Errorf("trellis.json: title %q, uid %q: want both", d.Title, d.UID)
	}
	out := map[string]string{}
	for _, p := range d.Panels {
		if p.Type != "row" && len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for i, tg := range p.Targets {
			out[fmt.Sprintf("%s [%d]", p.Title, i)] = tg.Expr
		}
	}
	return out
}

// missing returns, per query, the metric names it selects that exposed lacks, and the
// queries that name no metric or do not parse.
func missing(queries map[string]string, exposed map[string]bool) []string {
	var out []string
	for where, expr := range queries {
		names, err := metricNames(expr)
		switch {
		case err != nil:
			out = append(out, fmt.Sprintf("%s: %v", where, err))
		case len(names) == 0:
			out = append(out, fmt.Sprintf("%s: %q names no metric", where, expr))
		}
		for _, n := range names {
			if !exposed[n] {
				out = append(out, fmt.Sprintf("%s: %s is served by no component", where, n))
			}
		}
	}
	slices.Sort(out)
	return out
}

// seriesNames are the names a query can select from scraped families: a family's name,
// and for histograms and summaries the names of their series.
func seriesNames(fams ...metrictest.Families) map[string]bool {
	out := map[string]bool{}
	for _, f := range fams {
		for name, fam := range f {
			out[name] = true
			switch fam.GetType() {
			case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
				out[name+"_bucket"], out[name+"_sum"], out[name+"_count"] = true, true, true
			case dto.MetricType_SUMMARY:
				out[name+"_sum"], out[name+"_count"] = true, true
			}
		}
	}
	return out
}

// TestDashboardQueriesNameServedMetrics starts the datastore, a node agent, the cluster
// controllers and DNS, makes each of them work, scrapes their live /metrics and checks
// every query of trellis.json against what they serve.
func TestDashboardQueriesNameServedMetrics(t *testing.T) {
	qs := queries(t, Dashboard)
	c := startCluster(t)
	exposed := seriesNames(c.scrape(t)...)
	for _, m := range missing(qs, exposed) {
		t.Error(m)
	}
	// The check itself can fail: a query naming a metric no component serves is reported.
	qs["bogus"] = `sum(rate(trellis_no_such_metric_total[5m])) / sum(trellis_agent_rules)`
	if got := missing(qs, exposed); len(got) != 1 || !strings.Contains(got[0], "trellis_no_such_metric_total") {
		t.Errorf("a bogus query was reported as %q", got)
	}
}

// cluster is the running components and where to scrape them.
type cluster struct {
	agentSocket string
	urls        []string // /metrics of the datastore, controllers and DNS
}

func (c *cluster) scrape(t *testing.T) []metrictest.Families {
	t.Helper()
	var out []metrictest.Families
	body, code, err := agentapi.NewClient(c.agentSocket).Get(context.Background(), "/metrics")
	if err != nil || code != 200 {
		t.Fatalf("scrape the agent: %d, %v", code, err)
	}
	f, err := metrictest.Parse(strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	out = append(out, f)
	for _, u := range c.urls {
		f, err := metrictest.Scrape(u)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, f)
	}
	return out
}

// startCluster runs every component over a real embedded etcd until the test ends and
// waits until each has done the work the dashboard shows.
func startCluster(t *testing.T) *cluster {
	t.Helper()
	dir := t.TempDir()
	ds, st := startDatastore(t, dir)
	putManifest(t, st, "testdata/cluster.yaml")
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	log := slog.New(slog.DiscardHandler)
	serve := func(g healthsrv.Config) string {
		g.Addr = "127.0.0.1:0"
		s, err := healthsrv.Start(ctx, g, nil)
		if err != nil {
			t.Fatal(err)
		}
		return "http://" + s.Addr() + "/metrics"
	}
	c := &cluster{agentSocket: filepath.Join(dir, "agent.sock")}
	c.urls = append(c.urls, serve(healthsrv.Config{Gatherer: embed.Gatherer(), Ready: ds.Ready}))

	fake := knftables.NewFake(knftables.InetFamily, agent.DefaultTableName)
	a := agent.New(agent.Config{NodeName: "n1", HealthAddr: agentapi.Disabled, StatusSocket: c.agentSocket,
		Routing: agent.RoutingOff, RateLimit: 20 * time.Millisecond}, st, agent.Dataplane{NFT: fake, Counters: fakeCounters(fake)}, log)
	wg.Go(func() { _ = a.Run(ctx) })

	cc, err := controller.New(controller.DefaultConfig(), st, log)
	if err != nil {
		t.Fatal(err)
	}
	// The admission webhook counts its reviews beside the controllers, as controller run
	// serves them.
	reviews := admission.NewMetrics()
	webhookReg := prometheus.NewRegistry()
	webhookReg.MustRegister(reviews.Collectors()...)
	c.urls = append(c.urls, serve(healthsrv.Config{Gatherer: prometheus.Gatherers{cc.Gatherer(), webhookReg}, Ready: cc.Ready}))
	wg.Go(func() { _ = cc.Run(ctx) })
	review(t, &admission.Reviewer{Store: st, Metrics: reviews})

	srv := dns.New(dns.Config{Listen: "127.0.0.1:0"}, st, log)
	c.urls = append(c.urls, serve(healthsrv.Config{Gatherer: srv.Gatherer(), Ready: srv.Ready}))
	dnsAddr := make(chan string, 1)
	wg.Go(func() { _ = srv.Run(ctx, func(udp, _ net.Addr) { dnsAddr <- udp.String() }) })

	allocate(t, st)
	queryDNS(t, <-dnsAddr, "web.shop.svc.cluster.local.")
	waitFor(t, "the agent's rule counters of shop/web-ingress", func() string {
		fams := c.scrape(t)[0]
		if _, ok := fams.Value("trellis_rule_packets_total", map[string]string{"policy": "shop/web-ingress"}); !ok {
			return "no trellis_rule_packets_total{policy=\"shop/web-ingress\"}"
		}
		return ""
	})
	return c
}

// startDatastore runs an embedded etcd member and returns it with a client store.
func startDatastore(t *testing.T, dir string) (*embed.Server, store.Store) {
	t.Helper()
	sock := "unix://" + filepath.Join(dir, "ds.sock")
	ds := embed.New(embed.Config{Name: "trl-grafana", DataDir: filepath.Join(dir, "data"), ListenClientURLs: []string{sock},
		ListenPeerURLs: []string{"unix://" + filepath.Join(dir, "peer.sock")}, UnsafeNoFsync: true})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := ds.Start(ctx); err != nil {
		t.Fatalf("start embedded etcd: %v", err)
	}
	t.Cleanup(ds.Stop)
	st, err := etcd.New(store.Config{Endpoints: []string{sock}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return ds, st
}

func putManifest(t *testing.T, st store.Store, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	docs, err := model.Decode(data, path)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range docs {
		model.SetDefaults(d.Object)
		if _, err := st.Create(context.Background(), d.Object); err != nil {
			t.Fatalf("create %s: %v", d.Object.GetName(), err)
		}
	}
}

// allocate takes an address from the pool, as the CNI plugin does.
func allocate(t *testing.T, st store.Store) {
	t.Helper()
	ctx := context.Background()
	in, err := ipamstore.Load(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	a := ipam.New(ipamstore.New(st), ipamstore.Match)
	if _, err := a.AutoAssign(ctx, ipam.AssignArgs{Node: "n1", Handle: "grafana-test", Num4: 1, Pools: in.Pools}); err != nil {
		t.Fatal(err)
	}
}

// review posts one IPPool to the webhook's /validate over HTTP.
func review(t *testing.T, r *admission.Reviewer) {
	t.Helper()
	srv := httptest.NewServer(r.Handler(slog.New(slog.DiscardHandler)))
	defer srv.Close()
	req := admissionv1.AdmissionRequest{UID: "u", Operation: admissionv1.Create,
		Object: runtime.RawExtension{Raw: []byte(`{"apiVersion":"projectcalico.org/v3","kind":"IPPool","metadata":{"name":"more"},"spec":{"cidr":"10.245.0.0/16"}}`)}}
	req.Kind.Group, req.Kind.Version, req.Kind.Kind = model.GroupCalico, "v3", "IPPool"
	body, err := json.Marshal(admissionv1.AdmissionReview{Request: &req})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(srv.URL+"/validate", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("webhook: %s", resp.Status)
	}
}

func queryDNS(t *testing.T, server, name string) {
	t.Helper()
	waitFor(t, "a DNS answer for "+name, func() string {
		m := new(mdns.Msg)
		m.SetQuestion(name, mdns.TypeA)
		r, err := mdns.Exchange(m, server)
		if err != nil {
			return err.Error()
		}
		if len(r.Answer) == 0 {
			return mdns.RcodeToString[r.Rcode] + " without answers"
		}
		return ""
	})
}

// fakeCounters reports every commented rule of the fake table with zero counts: the
// kernel's counters need real packets (internal/agent's kernel tests count them), the
// series and their labels are the same.
func fakeCounters(fake *knftables.Fake) agent.CounterReader {
	return func(context.Context) ([]agent.RuleCounter, error) {
		fake.RLock()
		defer fake.RUnlock()
		var out []agent.RuleCounter
		if fake.Table == nil {
			return nil, nil
		}
		for _, ch := range fake.Table.Chains {
			for _, r := range ch.Rules {
				if r.Comment != nil {
					out = append(out, agent.RuleCounter{Comment: *r.Comment})
				}
			}
		}
		return out, nil
	}
}

func waitFor(t *testing.T, what string, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	msg := ""
	for time.Now().Before(deadline) {
		if msg = cond(); msg == "" {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: %s", what, msg)
}
