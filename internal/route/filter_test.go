package route

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestFilterGolden computes each testdata/filters/*.txt case (the format of TestGolden plus
// "decide NODE PEER import|export PREFIX [remote]" directives) and compares the nodes' text
// followed by one decision a directive with the want section; -update rewrites it.
func TestFilterGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/filters/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no test files: %v", err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txt"), func(t *testing.T) {
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var decides [][]string
			var kept []string
			body, _, _ := strings.Cut(string(raw), wantMarker)
			head, rest, _ := strings.Cut(body, "\n---\n")
			for _, line := range strings.Split(head, "\n") {
				if f := strings.Fields(line); len(f) > 0 && f[0] == "decide" {
					decides = append(decides, f)
					continue
				}
				kept = append(kept, line)
			}
			in, want := parseCase(t, strings.Join(kept, "\n")+"\n---\n"+rest+strings.TrimPrefix(string(raw), body))
			res := Compute(in)
			var b strings.Builder
			b.WriteString(res.String())
			for _, d := range decides {
				fmt.Fprintf(&b, "%s = %s\n", strings.Join(d, " "), decide(t, res, d))
			}
			got := b.String()
			if rev := Compute(reversed(in)).String(); rev != res.String() {
				t.Errorf("result depends on input order:\n%s", cmp.Diff(res.String(), rev))
			}
			if *update {
				if err := os.WriteFile(file, []byte(body+wantMarker+got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s: result differs (-want +got), rerun with -update if intended:\n%s", file, diff)
			}
		})
	}
}

func decide(t *testing.T, res Result, d []string) Decision {
	t.Helper()
	if len(d) < 5 || len(d) > 6 || (d[3] != "import" && d[3] != "export") {
		t.Fatalf("bad directive %q", strings.Join(d, " "))
	}
	n, ok := res.Find(d[1])
	if !ok {
		t.Fatalf("no node %s", d[1])
	}
	peer, pfx := netip.MustParseAddr(d[2]), netip.MustParsePrefix(d[4])
	remote := d[3] == "import" || (len(d) == 6 && d[5] == "remote")
	for _, f := range n.Filters {
		if f.Peer == peer {
			if d[3] == "import" {
				return Decide(f.Import, pfx, remote)
			}
			return Decide(f.Export, pfx, remote)
		}
	}
	return NoMatch
}

func TestDecideNoRules(t *testing.T) {
	if got := Decide(nil, netip.MustParsePrefix("198.51.100.0/24"), true); got != NoMatch {
		t.Errorf("Decide(nil) = %s, want no-match", got)
	}
}

// BenchmarkDecide runs a 50-rule list to its last rule (the no-match case of a long filter).
func BenchmarkDecide(b *testing.B) {
	var rules []FilterRule
	for i := range 50 {
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i), 0, 0}), 16)
		rules = append(rules, FilterRule{CIDR: p, Op: "In", MinLen: 16, MaxLen: 32, Action: "Accept"})
	}
	dst := netip.MustParsePrefix("198.51.100.0/24")
	for b.Loop() {
		if Decide(rules, dst, true) != NoMatch {
			b.Fatal("matched")
		}
	}
}
