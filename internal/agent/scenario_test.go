package agent

import (
	"bufio"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/knftables"

	"github.com/trellisnet/trellis/internal/dataplane/nft/trace"
	"github.com/trellisnet/trellis/internal/store/memory"
)

type podSpec struct{ ns, app string }

// scenarioPods are the scenario's pods, in the order the connectivity table numbers
// them.
var scenarioPods = []podSpec{{"front", "client"}, {"back", "db"}, {"back", "cache"}, {"front", "other"}}

// connCase is one row of a connectivity table.
type connCase struct {
	src, dst int
	proto    string
	port     int
	v6       bool
	want     bool // before the policy change
	after    bool // after it
}

func (c connCase) String() string {
	fam := "v4"
	if c.v6 {
		fam = "v6"
	}
	return fmt.Sprintf("pod%d->pod%d/%s/%d/%s", c.src, c.dst, c.proto, c.port, fam)
}

const scenarioPolicies = `apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: db-ingress, namespace: back}
spec:
  selector: app == 'db'
  types: [Ingress]
  ingress:
  - action: Allow
    protocol: TCP
    source: {namespaceSelector: "team == 'front'", selector: "app == 'client'"}
    destination: {ports: [5432]}
  - action: Allow
    protocol: ICMP
  - action: Allow
    protocol: ICMPv6
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: cache}
spec:
  selector: app == 'cache'
  types: [Ingress]
  ingress:
  - action: Deny
    protocol: UDP
    destination: {ports: [9999]}
  - action: Allow
`

// The policy change: db now takes 8080 from the client instead of 5432.
const scenarioChange = `apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: db-ingress, namespace: back}
spec:
  selector: app == 'db'
  types: [Ingress]
  ingress:
  - action: Allow
    protocol: TCP
    source: {namespaceSelector: "team == 'front'", selector: "app == 'client'"}
    destination: {ports: [8080]}
  - action: Allow
    protocol: ICMP
  - action: Allow
    protocol: ICMPv6
`

// loadScenarioTable reads testdata/scenario.table: rows of "src dst proto family port
// before after" ('#' starts a comment), pods by index.
func loadScenarioTable(t testing.TB) []connCase {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "scenario.table"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	verdict := map[string]bool{"allow": true, "deny": false}
	var cases []connCase
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		text, _, _ := strings.Cut(sc.Text(), "#")
		fields := strings.Fields(text)
		if len(fields) == 0 {
			continue
		}
		var c connCase
		var err1, err2, err3 error
		c.src, err1 = strconv.Atoi(fields[0])
		if len(fields) == 7 {
			c.dst, err2 = strconv.Atoi(fields[1])
			c.port, err3 = strconv.Atoi(fields[4])
		}
		before, ok1 := verdict[fields[len(fields)-2]]
		after, ok2 := verdict[fields[len(fields)-1]]
		c.proto, c.v6, c.want, c.after = fields[2], fields[3] == "v6", before, after
		if len(fields) != 7 || err1 != nil || err2 != nil || err3 != nil || !ok1 || !ok2 ||
			(fields[3] != "v4" && fields[3] != "v6") || c.src >= len(scenarioPods) || c.dst >= len(scenarioPods) {
			t.Fatalf("testdata/scenario.table:%d: want \"src dst proto family port before after\": %q", line, sc.Text())
		}
		cases = append(cases, c)
	}
	if err := sc.Err(); err != nil || len(cases) == 0 {
		t.Fatalf("testdata/scenario.table: %v (%d rows)", err, len(cases))
	}
	return cases
}

// fakePod is scenario pod i as TestTraceScenario places it: host-side interface and
// addresses.
func fakePod(i int) (iface string, v4, v6 netip.Addr) {
	return fmt.Sprintf("trlpod%d", i), netip.AddrFrom4([4]byte{192, 0, 2, byte(10 + i)}),
		netip.MustParseAddr(fmt.Sprintf("2001:db8::%d", 10+i))
}

// traceCases traces every case through the table the agent applied to fake and returns
// the mismatches with want ("" if none).
func traceCases(fake *knftables.Fake, cases []connCase, want func(connCase) bool) string {
	tab, err := trace.FromFake(fake)
	if err != nil {
		return err.Error()
	}
	var bad []string
	for _, c := range cases {
		sif, s4, s6 := fakePod(c.src)
		dif, d4, d6 := fakePod(c.dst)
		src, dst := s4, d4
		if c.v6 {
			src, dst = s6, d6
		}
		ok, explain, err := tab.RoundTrip(trace.Probe(sif, dif, src, dst, c.proto, uint16(c.port)))
		switch {
		case err != nil:
			bad = append(bad, fmt.Sprintf("%s: %v", c, err))
		case ok != want(c):
			bad = append(bad, fmt.Sprintf("%s: allowed=%v, want %v\n%s", c, ok, want(c), explain))
		}
	}
	return strings.Join(bad, "\n")
}

// TestTraceScenario runs the scenario table through the agent with knftables.Fake: the
// store holds the pods and policies, the agent calculates and applies, and the tracer
// walks every row's packets through what was applied, before and after the policy
// change. TestKernelScenario sends the same rows as real packets.
func TestTraceScenario(t *testing.T) {
	mem := memory.New(1000)
	var objs strings.Builder
	seen := map[string]bool{}
	for i, p := range scenarioPods {
		if !seen[p.ns] {
			seen[p.ns] = true
			objs.WriteString(nsYAML(p.ns))
		}
		iface, v4, v6 := fakePod(i)
		objs.WriteString(wepYAML(p.ns, fmt.Sprintf("pod%d", i), "node1", iface, map[string]string{"app": p.app},
			netip.PrefixFrom(v4, 32).String(), netip.PrefixFrom(v6, 128).String()))
	}
	put(t, mem, objs.String()+scenarioPolicies)
	fake := knftables.NewFake(knftables.InetFamily, "trellis")
	startAgent(t, New(testConfig(t, "node1"), mem, Dataplane{NFT: fake}, testLogger(t)))
	cases := loadScenarioTable(t)
	eventually(t, 10*time.Second, func() string {
		return traceCases(fake, cases, func(c connCase) bool { return c.want })
	})
	put(t, mem, scenarioChange)
	eventually(t, 10*time.Second, func() string {
		return traceCases(fake, cases, func(c connCase) bool { return c.after })
	})
}
