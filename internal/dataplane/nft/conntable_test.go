package nft

import (
	"bufio"
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"sigs.k8s.io/knftables"

	"github.com/trellisnet/trellis/internal/dataplane/nft/trace"
)

// connRow is one row of a connectivity table in testdata/*.table: a probe from pod src
// to pod (or "host") dst and whether it must get through.
type connRow struct {
	line     int
	src, dst string
	proto    string // tcp, udp or icmp (ICMPv6 in family v6)
	v6       bool
	port     int
	want     bool
}

func (r connRow) String() string {
	fam := "v4"
	if r.v6 {
		fam = "v6"
	}
	return fmt.Sprintf("line%d:%s-%s/%s/%s/%d", r.line, r.src, r.dst, r.proto, fam, r.port)
}

// loadConnTable reads testdata/name: rows of "src dst proto family port verdict", '#'
// starts a comment.
func loadConnTable(t testing.TB, name string) []connRow {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows []connRow
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		text, _, _ := strings.Cut(sc.Text(), "#")
		fields := strings.Fields(text)
		if len(fields) == 0 {
			continue
		}
		bad := func(why string) {
			t.Fatalf("%s:%d: %s: %q", name, line, why, sc.Text())
		}
		if len(fields) != 6 {
			bad("want 6 fields: src dst proto family port verdict")
		}
		r := connRow{line: line, src: fields[0], dst: fields[1], proto: fields[2]}
		switch r.proto {
		case "tcp", "udp", "icmp":
		default:
			bad("proto must be tcp, udp or icmp")
		}
		switch fields[3] {
		case "v4":
		case "v6":
			r.v6 = true
		default:
			bad("family must be v4 or v6")
		}
		if r.port, err = strconv.Atoi(fields[4]); err != nil || r.port < 0 || r.port > 65535 {
			bad("bad port")
		}
		switch fields[5] {
		case "allow":
			r.want = true
		case "deny":
		default:
			bad("verdict must be allow or deny")
		}
		rows = append(rows, r)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(rows) == 0 {
		t.Fatalf("%s: no rows", name)
	}
	return rows
}

// tracePeer is what the tracer needs to know about a probe's end: the host-side
// interface ("" for the host itself) and addresses.
type tracePeer struct {
	iface  string
	v4, v6 netip.Addr
}

// traceRow traces r's probe from src to dst, and its reply (trace.RoundTrip).
func traceRow(tab *trace.Table, r connRow, src, dst tracePeer) (bool, string, error) {
	from, to := src.v4, dst.v4
	if r.v6 {
		from, to = src.v6, dst.v6
	}
	return tab.RoundTrip(trace.Probe(src.iface, dst.iface, from, to, r.proto, uint16(r.port)))
}

// applyFake applies want to a fresh knftables.Fake through the Applier and parses what
// the fake holds.
func applyFake(t *testing.T, want *Table) (*knftables.Fake, *trace.Table) {
	t.Helper()
	f := knftables.NewFake(knftables.InetFamily, "trellis")
	if _, err := NewApplier(f).Apply(context.Background(), want); err != nil {
		t.Fatalf("apply to fake: %v", err)
	}
	tab, err := trace.FromFake(f)
	if err != nil {
		t.Fatalf("parse fake table: %v", err)
	}
	return f, tab
}

// connPeers are the connectivity table's pods as the fake tests name them (x is not
// in the state).
func connPeers() map[string]tracePeer {
	a, b, c, s := testPods()
	peers := map[string]tracePeer{"x": {iface: "trlpx", v4: netip.MustParseAddr("10.65.0.6"), v6: netip.MustParseAddr("2001:db8:65::6")}}
	for _, p := range []testPod{a, b, c, s} {
		peers[p.Name] = tracePeer{iface: p.Iface, v4: p.V4, v6: p.V6}
	}
	return peers
}

// renderConfigs are the configurations every connectivity table runs under.
var renderConfigs = map[string]Config{"default": {}, "merge all": {MergeRun: 1}, "merge none": {MergeRun: -1}}

func checkRows(t *testing.T, tab *trace.Table, rows []connRow, peers map[string]tracePeer) {
	t.Helper()
	for _, r := range rows {
		t.Run(r.String(), func(t *testing.T) {
			src, ok1 := peers[r.src]
			dst, ok2 := peers[r.dst]
			if !ok1 || !ok2 {
				t.Fatalf("unknown pod in row %s", r)
			}
			got, steps, err := traceRow(tab, r, src, dst)
			if err != nil {
				t.Fatalf("trace: %v", err)
			}
			if got != r.want {
				t.Errorf("allowed=%v, want %v\n%s", got, r.want, steps)
			}
		})
	}
}

func TestTraceConnectivity(t *testing.T) {
	rows := loadConnTable(t, "connectivity.table")
	a, b, c, s := testPods()
	for name, cfg := range renderConfigs {
		t.Run(name, func(t *testing.T) {
			_, tab := applyFake(t, Render(cfg, connectivityState(a, b, c, s)))
			checkRows(t, tab, rows, connPeers())
		})
	}
}

// hostPeers are the host endpoint table's ends as the fake tests name them.
func hostPeers() map[string]tracePeer {
	return map[string]tracePeer{
		"pod0": {iface: "ethp0", v4: netip.MustParseAddr("10.65.1.2")},
		"pod1": {iface: "ethp1", v4: netip.MustParseAddr("10.65.1.3")},
		"host": {v4: netip.MustParseAddr("169.254.1.1")},
	}
}

func TestTraceHostEndpoint(t *testing.T) {
	rows := loadConnTable(t, "hostendpoint.table")
	_, tab := applyFake(t, Render(Config{}, hostState("ethp0")))
	checkRows(t, tab, rows, hostPeers())
}

// TestTraceReadsAppliedState checks that the tracer sees what was applied, not what was
// rendered: a map element deleted behind the Applier's back drops the pod's traffic
// (fail closed), and a full sync restores it.
func TestTraceReadsAppliedState(t *testing.T) {
	a, b, c, s := testPods()
	want := Render(Config{}, connectivityState(a, b, c, s))
	f, _ := applyFake(t, want)
	row := connRow{src: "s", dst: "a", proto: "tcp", port: portHTTP}
	peers := connPeers()
	check := func(wantAllowed bool) {
		t.Helper()
		tab, err := trace.FromFake(f)
		if err != nil {
			t.Fatal(err)
		}
		got, steps, err := traceRow(tab, row, peers["s"], peers["a"])
		if err != nil {
			t.Fatal(err)
		}
		if got != wantAllowed {
			t.Fatalf("allowed=%v, want %v\n%s", got, wantAllowed, steps)
		}
	}
	check(true)
	tx := f.NewTransaction()
	tx.Delete(&knftables.Element{Map: MapToWorkload, Key: []string{quote(a.Iface)}})
	mustRun(t, f, tx)
	check(false)
	ap := NewApplier(f)
	if _, err := ap.FullSync(context.Background(), want); err != nil {
		t.Fatal(err)
	}
	check(true)
}

// TestTraceMergeKeepsVerdicts checks that merging allow-only runs changes no verdict:
// for random states, the table rendered with every mergeable run merged and the one
// with none merged give the same verdict for packets between every pair of endpoints,
// from and to addresses the states' sets and named ports hold, on the ports their
// rules name.
func TestTraceMergeKeepsVerdicts(t *testing.T) {
	srcs4 := []string{"10.1.2.3", "10.2.0.1", "10.3.0.5", "192.0.2.9", "10.9.0.1", "10.5.0.1", "10.5.0.2", "10.5.0.3", "10.6.0.7"}
	srcs6 := []string{"2001:db8::1", "2001:db8:2::5", "2001:db8:9::1", "2001:db8:1::7", "2001:db8:5::1", "2001:db8:5::2"}
	ports := []uint16{22, 53, 80, 443, 8001, 8080, 8081, 8443}
	compared, mergedSets, guardSets := 0, 0, 0
	for seed := range uint64(60) {
		rng := newRand(seed)
		st := randomState(rng)
		if seed%2 == 1 {
			st = mergeState(rng)
		}
		want := Render(Config{MergeRun: 1}, st)
		for name := range want.Sets {
			switch name[:3] {
			case "m4-", "m6-":
				mergedSets++
			case "g4-", "g6-", "g4i", "g6i":
				guardSets++
			}
		}
		_, merged := applyFake(t, want)
		_, plain := applyFake(t, Render(Config{MergeRun: -1}, st))
		for _, from := range st.Endpoints {
			for _, to := range st.Endpoints {
				for _, addrs := range [][]string{srcs4, srcs6} {
					for i, src := range addrs {
						dst := addrs[(i+1)%len(addrs)]
						for _, proto := range []string{"tcp", "udp", "icmp"} {
							for _, port := range ports {
								p := trace.Probe(from.Interface, to.Interface, netip.MustParseAddr(src), netip.MustParseAddr(dst), proto, port)
								a, ea, err1 := merged.RoundTrip(p)
								b, eb, err2 := plain.RoundTrip(p)
								if err1 != nil || err2 != nil {
									t.Fatalf("seed %d: %s: %v / %v", seed, p, err1, err2)
								}
								if a != b {
									t.Fatalf("seed %d: %s: merged allows=%v, unmerged %v\nmerged:\n%s\nunmerged:\n%s", seed, p, a, b, ea, eb)
								}
								compared++
								if proto == "icmp" {
									break
								}
							}
						}
					}
				}
			}
		}
	}
	t.Logf("%d packets compared, %d merged sets, %d guard sets", compared, mergedSets, guardSets)
	if compared < 1000 || mergedSets < 20 || guardSets < 20 {
		t.Fatalf("only %d packets compared, %d merged and %d guard sets rendered", compared, mergedSets, guardSets)
	}
}

// TestTraceRandomStatesLoad checks that the tracer understands every rule form the
// renderer emits for random states (merged and not), and that tracing a packet between
// every pair of their endpoints gives a verdict.
func TestTraceRandomStatesLoad(t *testing.T) {
	for seed := range uint64(30) {
		rng := newRand(seed)
		st := randomState(rng)
		_, tab := applyFake(t, Render(Config{MergeRun: 1 + 2*rng.IntN(2)}, st))
		for _, from := range st.Endpoints {
			for _, to := range st.Endpoints {
				for _, proto := range []string{"tcp", "udp", "icmp"} {
					for _, v6 := range []bool{false, true} {
						r := connRow{src: from.Name, dst: to.Name, proto: proto, v6: v6, port: 443}
						src := tracePeer{iface: from.Interface, v4: netip.MustParseAddr("10.1.2.3"), v6: netip.MustParseAddr("2001:db8::1")}
						dst := tracePeer{iface: to.Interface, v4: netip.MustParseAddr("10.9.0.1"), v6: netip.MustParseAddr("2001:db8:9::1")}
						if _, _, err := traceRow(tab, r, src, dst); err != nil {
							t.Fatalf("seed %d: %s: %v", seed, r, err)
						}
					}
				}
			}
		}
	}
}
