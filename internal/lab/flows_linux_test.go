package lab

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/trellisnet/trellis/internal/connectivity"
	"github.com/trellisnet/trellis/internal/flow"
)

// flowPods: web and db in namespace shop (db on the other node), client and peer in
// namespace open (no policy). Policies: shop denies by default (end of tier), allows web
// -> db on 80; a staged delete of that allow (so web -> db is a pending deny); a
// GlobalNetworkPolicy denies open -> db on 81 with an explicit rule.
var flowPods = "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: open}\n---\n" +
	demoPod("shop", "web", "node1") + demoPod("shop", "db", "node2") + demoPod("open", "client", "node1") + demoPod("open", "peer", "node2") + `apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: default-deny, namespace: shop}
spec:
  order: 1000
  selector: all()
  types: [Ingress, Egress]
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: web-to-db, namespace: shop}
spec:
  order: 100
  selector: app in {'web', 'db'}
  ingress:
  - action: Allow
    protocol: TCP
    source: {selector: app == 'web'}
    destination: {ports: [80]}
  egress:
  - action: Allow
    protocol: TCP
    destination: {selector: app == 'db', ports: [80]}
---
apiVersion: projectcalico.org/v3
kind: StagedNetworkPolicy
metadata: {name: web-to-db, namespace: shop}
spec:
  stagedAction: Delete
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: no-81}
spec:
  order: 10
  selector: app == 'db'
  types: [Ingress]
  ingress:
  - action: Deny
    protocol: TCP
    source: {namespaceSelector: projectcalico.org/name == 'open'}
    destination: {ports: [81]}
---
apiVersion: v1
kind: Service
metadata: {name: db, namespace: shop}
spec:
  selector: {app: db}
  ports: [{port: 8080, targetPort: 80, protocol: TCP}]
`

// demoPod is a pod named name in namespace ns on node, labelled app: NAME, running the
// demo HTTP server on port 80, as one YAML document with its separator.
func demoPod(ns, name, node string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: %[2]s, namespace: %[1]s, labels: {app: %[2]s}}
spec:
  nodeName: %[3]s
  containers: [{name: c, image: trellis, command: [trellis, demo, http-server, --port, "80"]}]
---
`, ns, name, node)
}

// labFlows lists the lab's flows as JSON.
func labFlows(t *testing.T, name string, args ...string) []flow.Flow {
	t.Helper()
	out := mustRun(t, name, append([]string{"lab", "flows", "--name", name, "-o", "json"}, args...)...)
	var r struct{ Flows []flow.Flow }
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("lab flows -o json: %v\n%s", err, out)
	}
	return r.Flows
}

// flowCase is a flow the test expects: its ends, port, action, reporter and the policy
// hit that decided it.
type flowCase struct {
	name               string
	src, dst           string // namespace/pod
	port               int
	action, reporter   string
	tier, policy, kind string // policy: namespace/name or name
	rule               int
	probes             int
}

func (c flowCase) match(f flow.Flow) bool {
	if f.Source.Namespace+"/"+f.Source.Name != c.src || f.Destination.Namespace+"/"+f.Destination.Name != c.dst ||
		f.Destination.Port != c.port || f.Protocol != "tcp" || f.Action != c.action || f.Reporter != c.reporter || len(f.Policies) != 1 {
		return false
	}
	h := f.Policies[0]
	name := h.Name
	if h.Namespace != "" {
		name = h.Namespace + "/" + h.Name
	}
	return h.Tier == c.tier && name == c.policy && h.Kind == c.kind && h.Rule == c.rule && h.Action == c.action
}

// TestFlowsRealPackets: probes across two nodes appear in `lab flows` with the right
// action, reporter and deciding rule (an allow rule, an explicit Deny rule, the end of a
// tier, a namespace's profile when no policy applies), the connections counted once per
// probe and, for allowed ones, conntrack's packets and bytes; the agents' flow-log files
// hold the same flows; and the filters select.
func TestFlowsRealPackets(t *testing.T) {
	needRoot(t)
	name := newLab(t, 2)
	f := filepath.Join(t.TempDir(), "flows.yaml")
	if err := os.WriteFile(f, []byte(flowPods), 0o644); err != nil {
		t.Fatal(err)
	}
	mustRun(t, name, "apply", "-f", f)
	waitRunning(t, name, 4)
	cases := []flowCase{
		{"allowed by a rule, at the source", "shop/web", "shop/db", 80, "allow", "src", "default", "shop/web-to-db", "NetworkPolicy", 0, 3},
		{"allowed by a rule, at the destination", "shop/web", "shop/db", 80, "allow", "dst", "default", "shop/web-to-db", "NetworkPolicy", 0, 3},
		{"denied by a Deny rule", "open/client", "shop/db", 81, "deny", "dst", "default", "no-81", "GlobalNetworkPolicy", 0, 1},
		{"denied at the end of the tier", "open/client", "shop/db", 80, "deny", "dst", "default", "shop/default-deny", "NetworkPolicy", -1, 1},
		{"no policy: the namespace's profile", "open/client", "open/peer", 80, "allow", "src", "", "kns.open", "Profile", 0, 2},
	}
	probe := func(c flowCase) {
		r := run(t, name, "lab", "probe", "--name", name, "--from", c.src, "--to", c.dst, "--port", "tcp/"+strconv.Itoa(c.port))
		if ok := r.code == 0; ok != (c.action == "allow") {
			t.Errorf("%s: probe %s -> %s tcp/%d connected=%v\n%s", c.name, c.src, c.dst, c.port, ok, r.stdout+r.stderr)
		}
	}
	// Pods run before they listen (no readiness probe): wait until both servers answer.
	// Warm-up connections are flows too, so the counts below are increments over what is
	// there after warm-up.
	deadline := time.Now().Add(20 * time.Second)
	for _, pair := range [][2]string{{"shop/web", "shop/db"}, {"open/client", "open/peer"}} {
		for run(t, name, "lab", "probe", "--name", name, "--from", pair[0], "--to", pair[1], "--port", "tcp/80").code != 0 {
			if time.Now().After(deadline) {
				t.Fatalf("%s -> %s never connected", pair[0], pair[1])
			}
			time.Sleep(300 * time.Millisecond)
		}
	}
	time.Sleep(3 * time.Second) // one aggregation interval (2 s) and its flush
	before := map[string]uint64{}
	for _, fl := range labFlows(t, name) {
		for _, c := range cases {
			if c.match(fl) {
				before[c.name] += fl.Connections
			}
		}
	}
	for _, c := range cases {
		for range c.probes {
			probe(c)
		}
	}
	var got map[string]flow.Flow
	for deadline := time.Now().Add(20 * time.Second); ; {
		got = map[string]flow.Flow{}
		for _, fl := range labFlows(t, name) {
			for _, c := range cases {
				if c.match(fl) {
					g := got[c.name]
					g.Connections += fl.Connections
					g.Packets += fl.Packets
					g.Bytes += fl.Bytes
					got[c.name] = g
				}
			}
		}
		done := true
		for _, c := range cases {
			if got[c.name].Connections < before[c.name]+uint64(c.probes) {
				done = false
			}
		}
		if done || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	for _, c := range cases {
		g := got[c.name]
		if n := g.Connections - before[c.name]; n < uint64(c.probes) {
			t.Errorf("%s: %d new connections, want %d (before %d)\n%s", c.name, n, c.probes, before[c.name], mustRun(t, name, "lab", "flows", "--name", name))
			continue
		}
		if c.action == "allow" && (g.Packets < 3*g.Connections || g.Bytes == 0) {
			t.Errorf("%s: %d packets, %d bytes for %d connections: conntrack's counters missing", c.name, g.Packets, g.Bytes, g.Connections)
		}
		if c.action == "deny" && g.Packets < g.Connections {
			t.Errorf("%s: %d packets for %d denied connections", c.name, g.Packets, g.Connections)
		}
	}
	// The staged delete of web-to-db would leave web -> db to shop's default deny: both
	// reporters show it pending; the client's flows have nothing pending.
	for _, fl := range labFlows(t, name, "--pod", "shop/web", "--port", "80") {
		want := flow.PolicyHit{Tier: "default", Namespace: "shop", Name: "default-deny", Kind: "NetworkPolicy", Rule: -1, Action: "deny"}
		if fl.Action == flow.ActionAllow && (len(fl.Pending) != 1 || fl.Pending[0] != want) {
			t.Errorf("web -> db (%s): pending %+v, want %+v", fl.Reporter, fl.Pending, want)
		}
	}
	for _, fl := range labFlows(t, name, "--pod", "open/client") {
		if len(fl.Pending) != 0 {
			t.Errorf("client flow with pending %+v", fl.Pending)
		}
	}
	// A denial was counted exactly once per probe at the reporter that decided it: the
	// source's side allowed, so no src-reported deny exists for the client's probes.
	for _, fl := range labFlows(t, name, "--action", "deny", "--pod", "open/client") {
		if fl.Reporter != flow.ReporterDestination {
			t.Errorf("client denial reported by %s: %+v", fl.Reporter, fl)
		}
	}
	if fs := labFlows(t, name, "--namespace", "shop", "--port", "81"); len(fs) == 0 {
		t.Error("--namespace shop --port 81 selects nothing")
	} else {
		for _, fl := range fs {
			if fl.Destination.Port != 81 {
				t.Errorf("--port 81 selected %+v", fl)
			}
		}
	}
	// Each agent also appended its flows to its file: node2's holds the denials at db.
	data, err := os.ReadFile(FlowLogFile(name, "node2"))
	if err != nil {
		t.Fatal(err)
	}
	inFile, err := flow.ReadJSONLines(strings.NewReader(string(data)))
	if err != nil {
		t.Fatalf("%s: %v", FlowLogFile(name, "node2"), err)
	}
	found := false
	for _, fl := range inFile {
		found = found || cases[2].match(fl)
	}
	if !found {
		t.Errorf("%s has %d flows, none the Deny rule's", FlowLogFile(name, "node2"), len(inFile))
	}
	checkLabUI(t, name, cases[2])
	checkServiceFlows(t, name)
	table := mustRun(t, name, "lab", "flows", "--name", name, "--action", "deny")
	if !strings.Contains(table, "default/no-81 rule 0") || !strings.Contains(table, "default/shop/default-deny (end of tier)") {
		t.Errorf("lab flows --action deny table names neither denial:\n%s", table)
	}
}

// checkServiceFlows: connections from web to the db Service's cluster IP name the Service
// in the flows of the source's node (where the service proxy translated them), to the db
// pod's port; the probes sent to db's own address name none.
func checkServiceFlows(t *testing.T, name string) {
	t.Helper()
	st := labStore(t, name)
	o, err := st.Get(context.Background(), svcKind, "shop", "db")
	if err != nil {
		t.Fatal(err)
	}
	vip := o.(*corev1.Service).Spec.ClusterIP
	ns, err := PodNamespaceOf(name, "shop/web")
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(15 * time.Second); dialFrom(ns, vip, 8080) != nil; {
		if time.Now().After(deadline) {
			t.Fatalf("web never reached the db Service at %s:8080", vip)
		}
		time.Sleep(300 * time.Millisecond)
	}
	const n = 3
	for range n {
		if err := dialFrom(ns, vip, 8080); err != nil {
			t.Fatal(err)
		}
	}
	var conns uint64
	var direct int
	for deadline := time.Now().Add(15 * time.Second); ; {
		conns, direct = 0, 0
		for _, fl := range labFlows(t, name, "--pod", "shop/web") {
			switch {
			case fl.Destination.Service == "shop/db" && fl.Reporter == flow.ReporterSource && fl.Destination.Name == "db" && fl.Destination.Port == 80:
				conns += fl.Connections
			case fl.Destination.Service != "":
				t.Errorf("flow %+v names Service %q", fl, fl.Destination.Service)
			case fl.Destination.Name == "db":
				direct++
			}
		}
		if conns >= n+1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if conns < n+1 || direct == 0 {
		t.Errorf("%d connections through the Service shop/db reported by web's node, want %d; %d flows straight to db\n%s",
			conns, n+1, direct, mustRun(t, name, "lab", "flows", "--name", name, "--pod", "shop/web", "-o", "json"))
	}
}

// checkLabUI runs `trellis lab ui` and checks, over its HTTP API as the page uses it,
// that it shows the lab's flows and that the trace of the denied flow c names the policy
// rule that denied it, computed from the lab's datastore.
func checkLabUI(t *testing.T, name string, c flowCase) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, binary, "--datastore-endpoints", Endpoint(name), "lab", "ui", "--name", name, "--listen", "127.0.0.1:0")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cancel()
		_ = cmd.Wait()
	}()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("lab ui printed no address: %v", err)
	}
	base := strings.TrimSuffix(strings.Fields(line[strings.Index(line, "http://"):])[0], "/")
	var denied *flow.Flow
	for deadline := time.Now().Add(15 * time.Second); denied == nil; {
		resp, err := http.Get(base + flow.Path + "?action=deny")
		if err == nil {
			var r struct{ Flows []flow.Flow }
			_ = json.NewDecoder(resp.Body).Decode(&r)
			resp.Body.Close()
			for i := range r.Flows {
				if c.match(r.Flows[i]) {
					denied = &r.Flows[i]
				}
			}
		}
		if denied == nil && time.Now().After(deadline) {
			t.Fatalf("lab ui at %s shows no flow %q (last error %v)", base, c.name, err)
		}
		time.Sleep(300 * time.Millisecond)
	}
	body, _ := json.Marshal(denied)
	resp, err := http.Post(base+"/api/v1/trace", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var rep connectivity.TraceReport
	if err := json.NewDecoder(resp.Body).Decode(&rep); err != nil || resp.StatusCode != 200 {
		t.Fatalf("trace: http %d, %v", resp.StatusCode, err)
	}
	in := rep.Ingress
	if rep.Verdict != "deny" || in.Reason != "rule" || in.Policy != "no-81" || in.Rule == nil || *in.Rule != 0 || rep.Egress.Verdict != "allow" {
		t.Errorf("trace of %s: %+v, want a deny by rule 0 of no-81 at the destination", c.name, rep)
	}
	resp, err = http.Get(base + "/")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("lab ui page: %v %v", resp, err)
	}
	resp.Body.Close()
}
