package nft

import (
	"context"
	"flag"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/knftables"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

func testPods() (a, b, c, s testPod) {
	mk := func(name string, i int) testPod {
		return testPod{Name: name, Iface: "trlp" + name,
			V4: netip.AddrFrom4([4]byte{10, 65, 0, byte(i)}), V6: netip.MustParseAddr("2001:db8:65::" + string(rune('0'+i)))}
	}
	return mk("a", 2), mk("b", 3), mk("c", 4), mk("s", 5)
}

func TestRenderGolden(t *testing.T) {
	a, b, c, s := testPods()
	got := Render(Config{}, connectivityState(a, b, c, s)).String()
	golden(t, "connectivity.golden", got)
	if again := Render(Config{}, connectivityState(a, b, c, s)).String(); again != got {
		t.Fatal("render is not deterministic")
	}
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (run with -update to create it): %v", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s mismatch (-want +got; run with -update to accept):\n%s", path, diff)
	}
}

// fakeDump is the fake's canonical dump with set/map element lines sorted (element
// order depends on insertion history; rule order does not and is kept).
func fakeDump(f *knftables.Fake) string {
	var els, rest []string
	for _, l := range strings.Split(f.Dump(), "\n") {
		if strings.HasPrefix(l, "add element ") {
			els = append(els, l)
		} else {
			rest = append(rest, l)
		}
	}
	sort.Strings(els)
	return strings.Join(append(rest, els...), "\n")
}

func TestPartialEqualsFullFake(t *testing.T) {
	ctx := context.Background()
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 7))
		partial := knftables.NewFake(knftables.InetFamily, "trellis")
		ap := NewApplier(partial)
		for step := range 15 {
			want := Render(Config{MergeRun: 1 + 2*rng.IntN(2)}, randomState(rng))
			res, err := ap.Apply(ctx, want)
			if err != nil {
				t.Fatalf("seed %d step %d: apply: %v", seed, step, err)
			}
			if res.Full != (step == 0) {
				t.Fatalf("seed %d step %d: full=%v", seed, step, res.Full)
			}
			fresh := knftables.NewFake(knftables.InetFamily, "trellis")
			if _, err := NewApplier(fresh).Apply(ctx, want); err != nil {
				t.Fatalf("seed %d step %d: fresh full sync: %v", seed, step, err)
			}
			if diff := cmp.Diff(fakeDump(fresh), fakeDump(partial)); diff != "" {
				t.Fatalf("seed %d step %d: partial != full (-full +partial):\n%s", seed, step, diff)
			}
		}
	}
}

func TestNoChangeIsEmptyTransaction(t *testing.T) {
	ctx := context.Background()
	a, b, c, s := testPods()
	f := knftables.NewFake(knftables.InetFamily, "trellis")
	ap := NewApplier(f)
	if _, err := ap.Apply(ctx, Render(Config{}, connectivityState(a, b, c, s))); err != nil {
		t.Fatal(err)
	}
	res, err := ap.Apply(ctx, Render(Config{}, connectivityState(a, b, c, s)))
	if err != nil {
		t.Fatal(err)
	}
	if res.Full || res.Operations != 0 {
		t.Fatalf("re-applying the same state: full=%v ops=%d, want a partial sync with 0 operations", res.Full, res.Operations)
	}
}

func TestFullSyncRepairsDriftFake(t *testing.T) {
	ctx := context.Background()
	a, b, c, s := testPods()
	want := Render(Config{}, connectivityState(a, b, c, s))
	ref := knftables.NewFake(knftables.InetFamily, "trellis")
	if _, err := NewApplier(ref).Apply(ctx, want); err != nil {
		t.Fatal(err)
	}
	policyChain := ""
	for name := range want.Chains {
		if strings.HasPrefix(name, "po-to-") {
			policyChain = name
			break
		}
	}
	drifts := map[string]func(f *knftables.Fake){
		"table deleted": func(f *knftables.Fake) {
			tx := f.NewTransaction()
			tx.Delete(&knftables.Table{})
			mustRun(t, f, tx)
		},
		"rule deleted": func(f *knftables.Fake) {
			tx := f.NewTransaction()
			tx.Flush(&knftables.Chain{Name: policyChain})
			mustRun(t, f, tx)
		},
		"map element deleted": func(f *knftables.Fake) {
			tx := f.NewTransaction()
			tx.Delete(&knftables.Element{Map: MapToWorkload, Key: []string{`"trlps"`}})
			mustRun(t, f, tx)
		},
		"extra chain and set": func(f *knftables.Fake) {
			tx := f.NewTransaction()
			tx.Add(&knftables.Chain{Name: "trl-intruder"})
			tx.Add(&knftables.Rule{Chain: "trl-intruder", Rule: "accept"})
			tx.Add(&knftables.Set{Name: "trl-intruder-set", Type: "ipv4_addr"})
			mustRun(t, f, tx)
		},
	}
	for name, drift := range drifts {
		t.Run(name, func(t *testing.T) {
			f := knftables.NewFake(knftables.InetFamily, "trellis")
			ap := NewApplier(f)
			if _, err := ap.Apply(ctx, want); err != nil {
				t.Fatal(err)
			}
			drift(f)
			if fakeDump(f) == fakeDump(ref) {
				t.Fatal("drift did not change the table")
			}
			if _, err := ap.FullSync(ctx, want); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(fakeDump(ref), fakeDump(f)); diff != "" {
				t.Fatalf("not repaired (-want +got):\n%s", diff)
			}
		})
	}
}

func mustRun(t *testing.T, f *knftables.Fake, tx *knftables.Transaction) {
	t.Helper()
	if err := f.Run(context.Background(), tx); err != nil {
		t.Fatal(err)
	}
}

func TestParseVersion(t *testing.T) {
	for _, tc := range []struct {
		out     string
		want    string
		wantErr bool
	}{
		{"nftables v1.0.6 (Lester Gooch #5)\n", "1.0.6", false},
		{"nftables v1.0.1 (Fearless Fosdick #3)", "1.0.1", false},
		{"nftables v1.0.0 (Fearless Fosdick #2)", "", true},
		{"nftables v0.9.8 (E.D.S.)", "", true},
		{"garbage", "", true},
	} {
		t.Run(tc.out, func(t *testing.T) {
			got, err := parseVersion(tc.out)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), "apt-get install nftables") {
				t.Errorf("error %q does not name the fix", err)
			}
			if err == nil && got != tc.want {
				t.Errorf("version %q, want %q", got, tc.want)
			}
		})
	}
}
