package model

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/trellisnet/trellis/internal/model/corpus"

	"github.com/google/go-cmp/cmp"
)

// The manifest corpus: testdata/manifests/valid holds examples of every manifest kind that
// must pass, testdata/manifests/invalid examples that must fail, each with one
// "# want: TEXT" line per expected problem. `trellis validate` (internal/ctl) runs over the
// same files and asserts the same messages through the CLI.

func corpusFiles(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "manifests", dir, "*.*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no test files in %s: %v", dir, err)
	}
	return files
}

// loadManifest does to one file what `trellis validate` does, at the model level: Decode;
// for each document, give a namespaced object without a namespace "default" and drop a
// cluster-scoped object's namespace, SetDefaults, Validate. A document of an internal kind
// is refused with the CLI's message (internal/ctl/manifest.go), since Kind.Internal kinds
// are never accepted from a manifest. Problems come in file order: document, item, line.
func loadManifest(t *testing.T, path string) ([]Document, Problems) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	docs, err := Decode(data, path)
	var problems Problems
	if err != nil && !errors.As(err, &problems) {
		t.Fatalf("decode %s: %v", path, err)
	}
	for _, d := range docs {
		k, ok := KeyOf(d.Object)
		if ok && k.Kind.Internal {
			problems = append(problems, Problem{Source: d.Source, Index: d.Index, Item: d.Item, Line: d.Line,
				Ref: d.Ref(), Message: fmt.Sprintf("kind %s (%s) is managed by Trellis itself and cannot be given in a manifest",
					k.Kind.Kind, k.Kind.APIVersion())})
			continue
		}
		switch {
		case ok && k.Kind.Namespaced && d.Object.GetNamespace() == "":
			d.Object.SetNamespace("default")
		case ok && !k.Kind.Namespaced && d.Object.GetNamespace() != "":
			d.Object.SetNamespace("")
		}
		SetDefaults(d.Object)
		problems = append(problems, d.Problems(Validate(d.Object))...)
	}
	sort.SliceStable(problems, func(i, j int) bool {
		a, b := problems[i], problems[j]
		if a.Index != b.Index {
			return a.Index < b.Index
		}
		if a.Item != b.Item {
			return a.Item < b.Item
		}
		return a.Line < b.Line
	})
	return docs, problems
}

// corpusWants reads the "# want: TEXT" lines of an invalid example.
func corpusWants(t *testing.T, path string) []string {
	t.Helper()
	out, err := corpus.Wants(path)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestManifestCorpusInvalid: every invalid example fails with each expected problem, and
// with no other (the number of problems equals the number of wants).
func TestManifestCorpusInvalid(t *testing.T) {
	seen := map[*Kind]bool{}
	for _, f := range corpusFiles(t, "invalid") {
		t.Run(filepath.Base(f), func(t *testing.T) {
			want := corpusWants(t, f)
			docs, problems := loadManifest(t, f)
			for _, d := range docs {
				if k, ok := KeyOf(d.Object); ok {
					seen[k.Kind] = true
				}
			}
			msg := problems.Error()
			for _, w := range want {
				if !strings.Contains(msg, w) {
					t.Errorf("problems lack %q:\n%s", w, msg)
				}
			}
			if len(problems) != len(want) {
				t.Errorf("got %d problems, want %d:\n%s", len(problems), len(want), msg)
			}
			for _, p := range problems {
				if p.Source != f {
					t.Errorf("problem names source %q, want %q: %s", p.Source, f, p)
				}
			}
		})
	}
	for _, k := range Default.Kinds() {
		if !k.Internal && !seen[k] {
			t.Errorf("no decodable invalid example of %s %s", k.APIVersion(), k.Kind)
		}
	}
}

// TestManifestCorpusValid: every valid example passes; together they hold every manifest
// kind; and each object, loaded, marshalled and decoded again, is equal and still valid
// (what `apply` stores is what `get` gives back).
func TestManifestCorpusValid(t *testing.T) {
	seen := map[*Kind]bool{}
	for _, f := range corpusFiles(t, "valid") {
		docs, problems := loadManifest(t, f)
		if len(problems) > 0 {
			t.Errorf("%s:\n%v", f, problems)
			continue
		}
		for _, d := range docs {
			k, _ := KeyOf(d.Object)
			seen[k.Kind] = true
			t.Run(filepath.Base(f)+"/"+d.Ref(), func(t *testing.T) { checkRoundTrip(t, d.Object) })
		}
	}
	for _, k := range Default.Kinds() {
		if !k.Internal && !seen[k] {
			t.Errorf("no valid example of %s %s", k.APIVersion(), k.Kind)
		}
	}
}

func checkRoundTrip(t *testing.T, obj Object) {
	t.Helper()
	b, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	again, err := Decode(b, "round-trip")
	if err != nil {
		t.Fatalf("decode: %v\n%s", err, b)
	}
	if diff := cmp.Diff(obj, again[0].Object); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	if errs := Validate(again[0].Object); len(errs) > 0 {
		t.Errorf("round-tripped object invalid: %v", errs)
	}
}
