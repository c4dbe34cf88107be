package model

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var updateBGPFilter = flag.Bool("update-bgpfilter", false, "rewrite testdata/bgpfilter/*.golden")

// TestBGPFilterValidate decodes and validates each testdata/bgpfilter/*.yaml and compares
// the problems (one a line, with field paths and lines) with the .golden file beside it.
func TestBGPFilterValidate(t *testing.T) {
	files, err := filepath.Glob("testdata/bgpfilter/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no test files: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			docs, err := Decode(data, filepath.Base(f))
			lines := problemStrings(t, err)
			for _, d := range docs {
				SetDefaults(d.Object)
				for _, p := range d.Problems(Validate(d.Object)) {
					lines = append(lines, p.String())
				}
			}
			got := strings.Join(lines, "\n") + "\n"
			golden := strings.TrimSuffix(f, ".yaml") + ".golden"
			if *updateBGPFilter {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update-bgpfilter)", err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("problems differ (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBGPFilterKind(t *testing.T) {
	for _, alias := range []string{"BGPFilter", "bgpfilters", "bgpf"} {
		k, err := Resolve(alias)
		if err != nil {
			t.Fatalf("Resolve(%q): %v", alias, err)
		}
		if k.Kind != "BGPFilter" || k.Namespaced {
			t.Errorf("Resolve(%q) = %s namespaced=%v, want cluster-scoped BGPFilter", alias, k.Kind, k.Namespaced)
		}
	}
}

// TestBGPFilterExample validates the lab walkthrough's example as `trellis validate` does.
func TestBGPFilterExample(t *testing.T) {
	const file = "../../examples/labs/advanced-pod-connectivity/bgpfilter.yaml"
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	docs, err := Decode(data, file)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]bool{}
	for _, d := range docs {
		SetDefaults(d.Object)
		if ps := d.Problems(Validate(d.Object)); len(ps) > 0 {
			t.Errorf("%s: %v", file, ps)
		}
		kinds[d.Object.GetObjectKind().GroupVersionKind().Kind] = true
	}
	if !kinds["BGPFilter"] || !kinds["BGPPeer"] {
		t.Errorf("%s holds kinds %v, want a BGPFilter and a BGPPeer", file, kinds)
	}
}
