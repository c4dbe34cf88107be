package selector

import "testing"

const benchComplex = `projectcalico.org/namespace in {"prod", "staging", "qa"} && (app == "web" || app starts with "api-") && !has(quarantine) && tier != "db" && version not in {"v1", "v2"}`

func BenchmarkParse(b *testing.B) {
	for _, bm := range []struct{ name, sel string }{
		{"simple", `app == "web"`},
		{"complex", benchComplex},
	} {
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Parse(bm.sel); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkMatch(b *testing.B) {
	labels := Map{
		"app": "api-gateway", "tier": "front", "version": "v3",
		"projectcalico.org/namespace": "prod", "team": "payments", "pod-template-hash": "5d4f8b",
	}
	for _, bm := range []struct{ name, sel string }{
		{"equality", `app == "api-gateway"`},
		{"complex", benchComplex},
	} {
		sel := MustParse(bm.sel)
		if !sel.Matches(labels) {
			b.Fatalf("%s does not match the benchmark labels", bm.sel)
		}
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				sel.Matches(labels)
			}
		})
	}
}
