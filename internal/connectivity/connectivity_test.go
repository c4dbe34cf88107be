package connectivity

import (
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/trellisnet/trellis/internal/model"
)

// load decodes a fixture whose namespaced objects all name their namespace, with defaults.
func load(t *testing.T, path string) *Scenario {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	docs, err := model.Decode(data, path)
	if err != nil {
		t.Fatal(err)
	}
	objs := make([]model.Object, len(docs))
	for i, d := range docs {
		model.SetDefaults(d.Object)
		objs[i] = d.Object
	}
	sc, err := Build(objs, false)
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

func flip(v string) string {
	if v == VerdictAllow {
		return VerdictDeny
	}
	return VerdictAllow
}

// TestCompareAgainstOwnMatrix: the calculation agrees with itself; a flipped self pair is
// never compared; one flipped pair is exactly one disagreement.
func TestCompareAgainstOwnMatrix(t *testing.T) {
	sc := load(t, "testdata/k8s_basic.yaml")
	if len(sc.Names) < 2 {
		t.Fatalf("fixture has %d pods, want at least 2", len(sc.Names))
	}
	calc := sc.Matrix([]Port{{Proto: "tcp", Num: 80}, {Proto: "udp", Num: 9000}}, 0)
	for _, tc := range []struct {
		name  string
		edit  func([]Row)
		diffs int
	}{
		{"agreement", func([]Row) {}, 0},
		{"self pairs are not compared", func(rs []Row) {
			for i := range rs {
				if rs[i].From == rs[i].To {
					rs[i].Verdict = flip(rs[i].Verdict)
				}
			}
		}, 0},
		{"one disagreement", func(rs []Row) {
			for i := range rs {
				if rs[i].From != rs[i].To {
					rs[i].Verdict = flip(rs[i].Verdict)
					return
				}
			}
		}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			probed := append([]Row(nil), calc...)
			tc.edit(probed)
			diffs, err := sc.Compare(probed)
			if err != nil || len(diffs) != tc.diffs {
				t.Fatalf("compare: %v, %d disagreements %q; want %d", err, len(diffs), diffs, tc.diffs)
			}
		})
	}
}

// TestCompareFamily: the calculation is asked per family, so an IPv4-only rule allows
// p1 -> p2 over IPv4 and denies it over IPv6, and a probe disagreeing on IPv6 alone is
// reported with its family.
func TestCompareFamily(t *testing.T) {
	sc := load(t, "testdata/dual.yaml")
	res := func(from, to string, fam int, v string) Row {
		return Row{From: "default/" + from, To: "default/" + to, Port: "tcp/80", Verdict: v, Family: fam}
	}
	truth := []Row{res("p1", "p2", 4, "allow"), res("p1", "p2", 6, "deny"),
		res("p2", "p1", 4, "allow"), res("p2", "p1", 6, "allow"), res("p1", "p2", 0, "allow")}
	for _, tc := range []struct {
		name  string
		flip  int // index of truth to flip, -1 none
		diffs []string
	}{
		{"agreement", -1, nil},
		{"IPv6 disagreement", 1, []string{"default/p1 -> default/p2 tcp/80 IPv6: packets allow, calculation deny"}},
		{"IPv4 disagreement", 0, []string{"default/p1 -> default/p2 tcp/80 IPv4: packets deny, calculation allow"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			probed := append([]Row(nil), truth...)
			if tc.flip >= 0 {
				probed[tc.flip].Verdict = flip(probed[tc.flip].Verdict)
			}
			diffs, err := sc.Compare(probed)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.diffs, diffs); d != "" {
				t.Errorf("disagreements (-want +got):\n%s", d)
			}
		})
	}
}

func TestMatrixFamilyUnknown(t *testing.T) {
	sc := load(t, "testdata/dual.yaml")
	rows := sc.Matrix([]Port{{Proto: "tcp", Num: 80}}, 6)
	got := map[string]string{}
	for _, r := range rows {
		if r.Family != 6 {
			t.Fatalf("row %+v lacks family 6", r)
		}
		got[r.From+" "+r.To] = r.Verdict
	}
	if got["default/p1 default/p2"] != VerdictDeny || got["default/p2 default/p1"] != VerdictAllow {
		t.Errorf("IPv6 verdicts %v", got)
	}
}

func TestParsePortAndFamilies(t *testing.T) {
	for in, want := range map[string]string{"tcp/80": "tcp/80", "UDP/53": "udp/53", "sctp/9": "sctp/9", "icmp": "icmp"} {
		p, err := ParsePort(in)
		if err != nil || p.String() != want {
			t.Errorf("ParsePort(%q) = %v, %v; want %s", in, p, err, want)
		}
	}
	for _, in := range []string{"tcp/0", "tcp", "gre/1", "tcp/70000"} {
		if _, err := ParsePort(in); !IsUsage(err) {
			t.Errorf("ParsePort(%q): err %v, want a usage error", in, err)
		}
	}
	if f, err := ParseFamilies("all"); err != nil || len(f) != 2 {
		t.Errorf("ParseFamilies(all) = %v, %v", f, err)
	}
	if _, err := ParseFamilies("5"); !IsUsage(err) || !strings.Contains(err.Error(), "invalid family") {
		t.Errorf("ParseFamilies(5): %v", err)
	}
}

func TestWriteTableChecksItsInput(t *testing.T) {
	var b strings.Builder
	if err := WriteTable(&b, []string{"a/x"}, []Port{{Proto: "tcp", Num: 80}}, nil); err == nil {
		t.Error("WriteTable with missing rows: want an error")
	}
	rows := []Row{{From: "a/x", To: "a/x", Port: "tcp/80", Verdict: VerdictAllow}}
	if err := WriteTable(&b, []string{"a/x"}, []Port{{Proto: "tcp", Num: 80}}, rows); err != nil || !strings.Contains(b.String(), "  0   .") {
		t.Errorf("table %q, err %v", b.String(), err)
	}
}
