package route

import (
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/trellisnet/trellis/internal/model"
)

var update = flag.Bool("update", false, "rewrite the golden sections of testdata/*.txt")

const wantMarker = "==== want\n"

// parseCase reads a test file: directive lines ("bgp", "block CIDR NODE",
// "borrow ADDR NODE", "# comment"), a "---" line, Calico YAML documents, then the
// "==== want" section.
func parseCase(t *testing.T, text string) (Input, string) {
	t.Helper()
	body, want, _ := strings.Cut(text, wantMarker)
	head, yml, _ := strings.Cut(body, "\n---\n")
	var in Input
	var svcs []*corev1.Service
	var eps []*discoveryv1.EndpointSlice
	for _, line := range strings.Split(head, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		switch {
		case f[0] == "bgp" && len(f) == 1:
			in.BGP = true
		case f[0] == "block" && len(f) == 3:
			in.Blocks = append(in.Blocks, Block{CIDR: netip.MustParsePrefix(f[1]), Node: f[2]})
		case f[0] == "block" && len(f) == 2:
			in.Blocks = append(in.Blocks, Block{CIDR: netip.MustParsePrefix(f[1])})
		case f[0] == "borrow" && len(f) == 3:
			in.Borrowed = append(in.Borrowed, Borrowed{Addr: netip.MustParseAddr(f[1]), Node: f[2]})
		default:
			t.Fatalf("bad directive %q", line)
		}
	}
	docs, err := model.Decode([]byte(yml), "test")
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	for _, d := range docs {
		model.SetDefaults(d.Object)
		switch o := d.Object.(type) {
		case *model.Node:
			in.Nodes = append(in.Nodes, o)
		case *model.IPPool:
			in.Pools = append(in.Pools, o)
		case *model.BGPConfiguration:
			in.BGPConfig = append(in.BGPConfig, o)
		case *model.BGPPeer:
			in.BGPPeers = append(in.BGPPeers, o)
		case *model.BGPFilter:
			in.BGPFilters = append(in.BGPFilters, o)
		case *corev1.Service:
			svcs = append(svcs, o)
		case *discoveryv1.EndpointSlice:
			eps = append(eps, o)
		default:
			t.Fatalf("unexpected kind %T", o)
		}
	}
	in.Services = ServicesFromModel(svcs, eps)
	return in, want
}

func reversed(in Input) Input {
	out := in
	out.Nodes = slices.Clone(in.Nodes)
	slices.Reverse(out.Nodes)
	out.Pools = slices.Clone(in.Pools)
	slices.Reverse(out.Pools)
	out.BGPConfig = slices.Clone(in.BGPConfig)
	slices.Reverse(out.BGPConfig)
	out.BGPPeers = slices.Clone(in.BGPPeers)
	slices.Reverse(out.BGPPeers)
	out.Blocks = slices.Clone(in.Blocks)
	slices.Reverse(out.Blocks)
	out.Borrowed = slices.Clone(in.Borrowed)
	slices.Reverse(out.Borrowed)
	out.Services = slices.Clone(in.Services)
	slices.Reverse(out.Services)
	return out
}

func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no test files: %v", err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txt"), func(t *testing.T) {
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			in, want := parseCase(t, string(raw))
			got := Compute(in).String()
			if rev := Compute(reversed(in)).String(); rev != got {
				t.Errorf("result depends on input order:\n%s", cmp.Diff(got, rev))
			}
			if *update {
				body, _, _ := strings.Cut(string(raw), wantMarker)
				if err := os.WriteFile(file, []byte(body+wantMarker+got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s: result differs (-want +got), rerun with -update if intended:\n%s", file, diff)
			}
		})
	}
}

func TestMerge(t *testing.T) {
	p := netip.MustParsePrefix
	a := netip.MustParseAddr
	calc := []Route{{Dst: p("10.244.0.0/26"), Blackhole: true}}
	learned := []Route{
		Learned(p("10.244.0.0/26"), []netip.Addr{a("192.0.2.2")}), // own block: blackhole wins
		Learned(p("10.244.1.0/26"), []netip.Addr{a("192.0.2.3"), a("192.0.2.2"), a("192.0.2.3")}),
		Learned(p("10.244.2.0/26"), nil),
	}
	got := fmt.Sprint(Merge(calc, learned))
	want := "[blackhole 10.244.0.0/26 10.244.1.0/26 nexthop via 192.0.2.2 nexthop via 192.0.2.3]"
	if got != want {
		t.Errorf("Merge = %s, want %s", got, want)
	}
}

func TestBlocksFromModel(t *testing.T) {
	i0, i1 := 0, 1
	blocks := []*model.IPAMBlock{
		{ObjectMeta: metaName("10-244-0-0-26"), Spec: model.IPAMBlockSpec{CIDR: "10.244.0.0/26", Affinity: "a",
			Allocations: []*int{&i0, nil, &i1},
			Attributes: []model.IPAMAttribute{{Attrs: map[string]string{"node": "a"}},
				{Attrs: map[string]string{"node": "b"}}}}},
		{ObjectMeta: metaName("bad"), Spec: model.IPAMBlockSpec{CIDR: "nonsense"}},
	}
	bl, bo, probs := BlocksFromModel(blocks)
	if diff := cmp.Diff([]Block{{CIDR: netip.MustParsePrefix("10.244.0.0/26"), Node: "a"}}, bl,
		cmp.Comparer(func(x, y netip.Prefix) bool { return x == y })); diff != "" {
		t.Errorf("blocks (-want +got):\n%s", diff)
	}
	if len(bo) != 1 || bo[0] != (Borrowed{Addr: netip.MustParseAddr("10.244.0.2"), Node: "b"}) {
		t.Errorf("borrowed = %v, want [10.244.0.2 on b]", bo)
	}
	if len(probs) != 1 || !strings.Contains(probs[0].String(), "IPAMBlock/bad") {
		t.Errorf("problems = %v, want one for IPAMBlock/bad", probs)
	}
}

func TestParseMAC(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"66:AA:bb:00:01:02", "66:aa:bb:00:01:02"},
		{"66:aa:bb:00:01", ""},
		{"66:aa:bb:00:01:0g", ""},
		{"", ""},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseMAC(tc.in)
			if (err != nil) != (tc.want == "") || got != tc.want {
				t.Errorf("ParseMAC(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestPodMTU(t *testing.T) {
	if got := PodMTU(1500); got != 1450 {
		t.Errorf("PodMTU(1500) = %d, want 1450", got)
	}
	if n := len(VXLANDevice); n > 15 {
		t.Errorf("VXLANDevice %q is %d bytes, more than IFNAMSIZ-1", VXLANDevice, n)
	}
}
