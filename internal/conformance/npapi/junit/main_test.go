package main

import (
	"testing"
)

func TestLeaves(t *testing.T) {
	tests := []struct {
		name string
		in   []testCase
		want []string
	}{
		{"parent with subtests dropped",
			[]testCase{{Name: "T/a"}, {Name: "T/b"}, {Name: "T", Status: "failed"}}, []string{"T/a", "T/b"}},
		{"a failed set-up kept", []testCase{{Name: "T", Status: "failed"}}, []string{"T"}},
		{"nested", []testCase{{Name: "T/a/x"}, {Name: "T/a"}, {Name: "T"}}, []string{"T/a/x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, c := range leaves(tt.in) {
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
