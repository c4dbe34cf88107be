package main

import (
	"testing"
)

func TestReported(t *testing.T) {
	tests := []struct {
		name  string
		depth int
		in    []testCase
		want  []string
	}{
		{"parent with subtests dropped", 0,
			[]testCase{{Name: "T/a"}, {Name: "T/b"}, {Name: "T", Status: "failed"}}, []string{"T/a", "T/b"}},
		{"a failed set-up kept", 0, []testCase{{Name: "T", Status: "failed"}}, []string{"T"}},
		{"nested", 0, []testCase{{Name: "T/a/x"}, {Name: "T/a"}, {Name: "T"}}, []string{"T/a/x"}},
		{"depth 2", 2, []testCase{{Name: "T/a/x"}, {Name: "T/a/y"}, {Name: "T/a"}, {Name: "T/b"}, {Name: "T", Status: "failed"}},
			[]string{"T/a", "T/b"}},
		{"depth 2, failed set-up", 2, []testCase{{Name: "T", Status: "failed"}}, []string{"T"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, c := range reported(tt.in, tt.depth) {
				got = append(got, c.Name)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("got %v, want %v", got, tt.want)
				}
			}
		})
	}
}

func TestMarkSkipped(t *testing.T) {
	in := []testCase{{Name: "T/ran", Status: "passed"}, {Name: "T/broke", Status: "failed"}, {Name: "T/other", Status: "passed"}}
	got := markSkipped(in, "pkg", []string{"T/ran", "T/broke", "T/absent", ""}, "no SCTP")
	want := map[string]string{"T/ran": "skipped", "T/broke": "failed", "T/other": "passed", "T/absent": "skipped"}
	if len(got) != len(want) {
		t.Fatalf("got %d cases, want %d: %+v", len(got), len(want), got)
	}
	for _, c := range got {
		if c.Status != want[c.Name] {
			t.Errorf("%s: status %q, want %q", c.Name, c.Status, want[c.Name])
		}
		if c.Status == "skipped" && (c.Skipped == nil || c.Skipped.Message != "no SCTP") {
			t.Errorf("%s: skipped without the reason: %+v", c.Name, c.Skipped)
		}
	}
}
