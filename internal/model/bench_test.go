package model

import (
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkDecodeDefaultValidate measures the whole manifest path on the defaulting corpus
// (19 objects of 13 kinds).
func BenchmarkDecodeDefaultValidate(b *testing.B) {
	in, err := os.ReadFile(filepath.Join("testdata", "defaults", "input.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		docs, err := Decode(in, "input.yaml")
		if err != nil {
			b.Fatal(err)
		}
		for _, d := range docs {
			SetDefaults(d.Object)
			if errs := Validate(d.Object); len(errs) > 0 {
				b.Fatal(errs)
			}
		}
	}
}
