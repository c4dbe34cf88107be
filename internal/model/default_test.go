package model

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestSetDefaultsGolden: SetDefaults of testdata/defaults/input.yaml, as YAML, equals
// defaults.golden.yaml (go test -run TestSetDefaultsGolden -update rewrites it). Every
// defaulted object is also valid.
func TestSetDefaultsGolden(t *testing.T) {
	in, err := os.ReadFile(filepath.Join("testdata", "defaults", "input.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	docs, err := Decode(in, "input.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	for i, d := range docs {
		SetDefaults(d.Object)
		if errs := Validate(d.Object); len(errs) > 0 {
			t.Errorf("%s: defaulted object invalid: %v", d.Ref(), errs)
		}
		b, err := yaml.Marshal(d.Object)
		if err != nil {
			t.Fatal(err)
		}
		if i > 0 {
			out.WriteString("---\n")
		}
		out.Write(b)
	}
	golden := filepath.Join("testdata", "defaults", "defaults.golden.yaml")
	if *update {
		if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), out.String()); diff != "" {
		t.Errorf("defaults differ from %s (-want +got):\n%s", golden, diff)
	}
}

// TestSetDefaultsIdempotentAndRoundTrip: decode → default → marshal → decode gives an equal
// object, and defaulting again changes nothing.
func TestSetDefaultsIdempotentAndRoundTrip(t *testing.T) {
	in, err := os.ReadFile(filepath.Join("testdata", "defaults", "input.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	docs, err := Decode(in, "input.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range docs {
		t.Run(d.Ref(), func(t *testing.T) {
			SetDefaults(d.Object)
			b, err := json.Marshal(d.Object)
			if err != nil {
				t.Fatal(err)
			}
			again, err := Decode(b, "round-trip")
			if err != nil {
				t.Fatalf("decode of marshalled object: %v\n%s", err, b)
			}
			obj := again[0].Object
			if diff := cmp.Diff(d.Object, obj); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}
			SetDefaults(obj)
			if diff := cmp.Diff(d.Object, obj); diff != "" {
				t.Errorf("second SetDefaults changed the object (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(d.Object, Clone(d.Object)); diff != "" {
				t.Errorf("Clone differs (-want +got):\n%s", diff)
			}
		})
	}
}
