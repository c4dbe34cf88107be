package model

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// fuzzSeeds adds the defaulting inputs, the valid and invalid manifest corpus and a
// few hand-picked oddities to the corpus.
func fuzzSeeds(f *testing.F) {
	var files []string
	for _, pattern := range []string{"testdata/defaults/*.yaml", "testdata/manifests/*/*.*"} {
		m, _ := filepath.Glob(pattern)
		files = append(files, m...)
	}
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{
		"", "---\n---\n", "{}", "[]", "null", "a: &a [*a]\n", "<<: {a: 1}\n",
		"apiVersion: v1\nkind: List\nitems: [1, null, {kind: List, apiVersion: v1, items: []}]\n",
		`{"apiVersion":"projectcalico.org/v3","kind":"GlobalNetworkPolicy","metadata":{"name":"x"},"spec":{"ingress":[{"action":"Allow","protocol":"TCP","destination":{"ports":["1:2",3,"x"]}}]}}`,
		"apiVersion: projectcalico.org/v3\nkind: BGPPeer\nmetadata: {name: p}\nspec: {peerIP: '[::1]:0', asNumber: '1.2'}\n",
		"apiVersion: projectcalico.org/v3\nkind: FelixConfiguration\nmetadata: {name: default}\nspec: {x: !!binary aGk=, y: 1e400}\n",
	} {
		f.Add([]byte(s))
	}
}

// FuzzDecode: Decode never panics, and a cleanly decoded object marshals and decodes back
// to an equal object.
func FuzzDecode(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		docs, err := Decode(data, "fuzz")
		if err != nil {
			return
		}
		for _, d := range docs {
			b, err := json.Marshal(d.Object)
			if err != nil {
				t.Fatalf("marshal %s: %v", d.Ref(), err)
			}
			again, err := Decode(b, "again")
			if err != nil {
				t.Fatalf("decode of marshalled %s: %v\n%s", d.Ref(), err, b)
			}
			if len(again) != 1 || !cmp.Equal(d.Object, again[0].Object) {
				t.Fatalf("round trip of %s differs:\n%s", d.Ref(), cmp.Diff(d.Object, again[0].Object))
			}
		}
	})
}

// FuzzValidate: defaulting, validation and cloning never panic on anything Decode returns
// (partial documents included), and validation does not modify the object.
func FuzzValidate(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		docs, _ := Decode(data, "fuzz")
		for _, d := range docs {
			SetDefaults(d.Object)
			before := Clone(d.Object)
			errs := Validate(d.Object)
			// Compared as clones: a clone (a JSON round trip) turns an empty list of an
			// omitempty field into nil, which is no change Validate made.
			if !cmp.Equal(before, Clone(d.Object)) {
				t.Fatalf("Validate modified %s", d.Ref())
			}
			_ = d.Problems(errs)
		}
	})
}
