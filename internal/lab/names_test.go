package lab

import (
	"strings"
	"testing"
)

func TestValidateName(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"trellis", true}, {"lab2", true}, {"", false}, {"a-b", false}, {"Blue", false},
		{strings.Repeat("a", 21), false}, {"../x", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := ValidateName(tc.name); (err == nil) != tc.ok {
				t.Fatalf("ValidateName(%q) = %v, want ok=%v", tc.name, err, tc.ok)
			}
		})
	}
}

func TestNamesStayInsideTheLabPrefix(t *testing.T) {
	got := []string{FabricNS("x"), NodeNS("x", NodeName(3)), PodNS("x", "default", "web")}
	want := []string{"trl-x-fab", "trl-x-node3", "trl-x-p"}
	for i := range got {
		if !strings.HasPrefix(got[i], want[i]) || !isLabNS("x", got[i]) || isLabNS("xy", got[i]) {
			t.Errorf("name %q: want prefix %q, in lab x only", got[i], want[i])
		}
	}
	if a, b := PodNS("x", "default", "web"), PodNS("x", "default", "web"); a != b || len(a) != len("trl-x-p")+10 {
		t.Errorf("PodNS not deterministic or wrong length: %q %q", a, b)
	}
	if PodNS("x", "default", "web") == PodNS("x", "default", "web2") {
		t.Error("two pods share a namespace name")
	}
	if got := underlayAddr(2).String(); got != "10.99.0.12/24" {
		t.Errorf("underlayAddr(2) = %s", got)
	}
}

func TestParsePort(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"tcp/80", "tcp/80", true}, {"UDP/53", "udp/53", true}, {"sctp/9", "", false},
		{"tcp/0", "", false}, {"tcp", "", false}, {"tcp/70000", "", false},
	} {
		t.Run(tc.in, func(t *testing.T) {
			p, err := ParsePort(tc.in)
			if (err == nil) != tc.ok || (tc.ok && p.String() != tc.want) {
				t.Fatalf("ParsePort(%q) = %v, %v; want %q ok=%v", tc.in, p, err, tc.want, tc.ok)
			}
		})
	}
}
