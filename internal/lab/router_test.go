package lab

import (
	"flag"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var updateRouter = flag.Bool("update", false, "rewrite testdata/*.golden")

func TestBirdConfigGolden(t *testing.T) {
	peers := []birdPeer{{Name: "node1", Addr: netip.MustParseAddr("10.99.0.11")}, {Name: "node2", Addr: netip.MustParseAddr("10.99.0.12")}}
	dual := []birdPeer{{Name: "node1", Addr: netip.MustParseAddr("10.99.0.11"), Addr6: netip.MustParseAddr("2001:db8:99::11")},
		{Name: "node2", Addr: netip.MustParseAddr("10.99.0.12")}}
	for _, tc := range []struct {
		name  string
		self6 netip.Addr
		rc    RouterConfig
		peers []birdPeer
	}{
		{"bird-default", netip.Addr{}, RouterConfig{ASN: 65001}, peers},
		{"bird-filters", netip.Addr{}, RouterConfig{ASN: 65001, NodeASN: 64600,
			Announce: []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24"), netip.MustParsePrefix("198.51.100.1/24"), netip.MustParsePrefix("203.0.113.0/24")},
			Import:   []netip.Prefix{netip.MustParsePrefix("10.244.0.0/16"), netip.MustParsePrefix("10.96.0.0/12")}}, peers},
		{"bird-dualstack", netip.MustParseAddr("2001:db8:99::254"), RouterConfig{ASN: 65001,
			Announce: []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24"), netip.MustParsePrefix("2001:db8:ee::/48")},
			Import:   []netip.Prefix{netip.MustParsePrefix("10.244.0.0/16")}}, dual},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := birdConfig(netip.MustParseAddr("10.99.0.254"), tc.self6, tc.rc, tc.peers)
			file := filepath.Join("testdata", tc.name+".golden")
			if *updateRouter {
				if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(file)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("%s differs (-want +got), rerun with -update if intended:\n%s", file, diff)
			}
			if _, err := os.Stat(BirdPath); err == nil {
				if out, err := exec.Command(BirdPath, "-p", "-c", file).CombinedOutput(); err != nil {
					t.Errorf("bird -p rejects %s: %v\n%s", file, err, out)
				}
			}
		})
	}
}

func TestParseBirdProtocols(t *testing.T) {
	out := `BIRD 2.0.12 ready.
Name       Proto      Table      State  Since         Info
device1    Device     ---        up     2026-11-22T05:44:31  
node_node1 BGP        ---        up     2026-11-22T05:45:46  Established   
node_node3 BGP        ---        start  2026-11-22T05:45:46  Active        Socket: Connection refused
`
	want := []RouterProtocol{
		{Name: "device1", Proto: "Device", State: "up", Since: "2026-11-22T05:44:31"},
		{Name: "node_node1", Proto: "BGP", State: "up", Since: "2026-11-22T05:45:46", Info: "Established"},
		{Name: "node_node3", Proto: "BGP", State: "start", Since: "2026-11-22T05:45:46", Info: "Active Socket: Connection refused"},
	}
	if diff := cmp.Diff(want, parseBirdProtocols(out)); diff != "" {
		t.Errorf("parseBirdProtocols (-want +got):\n%s", diff)
	}
}

func TestValidateHost(t *testing.T) {
	for _, tc := range []struct {
		host string
		ok   bool
	}{
		{"tor", true}, {"client2", true}, {"a", true}, {"abcdefghijkl", true},
		{"abcdefghijklm", false}, {"", false}, {"2tor", false}, {"To", false}, {"t-r", false},
		{"fab", false}, {"p0123456789", false}, {"p01234abcdef", true},
	} {
		t.Run(tc.host, func(t *testing.T) {
			if err := ValidateHost(tc.host); (err == nil) != tc.ok {
				t.Errorf("ValidateHost(%q) = %v, want ok %v", tc.host, err, tc.ok)
			}
		})
	}
}

func TestNextExternalAddr(t *testing.T) {
	st := &State{Nodes: []NodeState{{Address: "10.99.0.11/24"}}, Externals: []External{{Name: "a", Address: "10.99.0.254/24"}}}
	got, err := nextExternalAddr(st)
	if err != nil || got != netip.MustParsePrefix("10.99.0.253/24") {
		t.Errorf("nextExternalAddr = %s, %v; want 10.99.0.253/24", got, err)
	}
}

func TestRouterSpecConfig(t *testing.T) {
	rc, err := RouterSpec{ASN: 65001, Announce: []string{"203.0.113.7/24"}, Import: []string{"10.244.0.0/16"}}.Config()
	if err != nil {
		t.Fatal(err)
	}
	if len(rc.Announce) != 1 || rc.Announce[0].String() != "203.0.113.0/24" || rc.Import[0].String() != "10.244.0.0/16" {
		t.Errorf("config %+v: want masked prefixes", rc)
	}
	for _, bad := range []RouterSpec{{}, {ASN: 1, Announce: []string{"nope"}}, {ASN: 1, Import: []string{"10.0.0.1"}}} {
		if _, err := bad.Config(); err == nil {
			t.Errorf("%+v: want an error", bad)
		}
	}
}

func TestExternalSummaryAndTable(t *testing.T) {
	plain := External{Name: "client", Namespace: "trl-x-client", Address: "10.99.0.254/24"}
	bird := External{Name: "tor", Namespace: "trl-x-tor", Address: "10.99.0.253/24",
		Router: &RouterState{PID: 42, Socket: "/s", Spec: RouterConfig{ASN: 65001}}}
	if got := plain.Summary(); got != "external client: namespace trl-x-client, address 10.99.0.254/24" {
		t.Errorf("summary %q", got)
	}
	if got := bird.Summary(); !strings.Contains(got, "bird pid 42 (AS 65001), socket /s") {
		t.Errorf("summary %q", got)
	}
	var b strings.Builder
	if err := WriteExternals(&b, []External{plain, bird}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"HOST", "client  trl-x-client  10.99.0.254/24  -", "tor     trl-x-tor     10.99.0.253/24  42        65001"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
}
