package link

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/trellisnet/trellis/internal/route"
)

func TestDiffRoutes(t *testing.T) {
	p := netip.MustParsePrefix
	a := netip.MustParseAddr
	bh := route.Route{Dst: p("10.244.0.0/26"), Blackhole: true}
	via := func(dst, gw, dev string) route.Route {
		return route.Route{Dst: p(dst), NextHops: []route.NextHop{{Via: a(gw), Dev: dev}}}
	}
	ecmp := route.Learned(p("10.244.3.0/26"), []netip.Addr{a("192.0.2.2"), a("192.0.2.3")})
	ecmpKernel := route.Route{Dst: p("10.244.3.0/26"), NextHops: []route.NextHop{
		{Via: a("192.0.2.3"), Dev: "eth0"}, {Via: a("192.0.2.2"), Dev: "eth0"}}}
	for _, tc := range []struct {
		name             string
		desired, current []route.Route
		want             string
	}{
		{"empty", nil, nil, "add [] replace [] delete []"},
		{"add", []route.Route{bh}, nil, "add [blackhole 10.244.0.0/26] replace [] delete []"},
		{"in sync, kernel reports the device", []route.Route{via("10.244.1.0/26", "192.0.2.2", ""), ecmp},
			[]route.Route{via("10.244.1.0/26", "192.0.2.2", "eth0"), ecmpKernel}, "add [] replace [] delete []"},
		{"changed next hop", []route.Route{via("10.244.1.0/26", "192.0.2.3", "")},
			[]route.Route{via("10.244.1.0/26", "192.0.2.2", "eth0")},
			"add [] replace [10.244.1.0/26 via 192.0.2.3] delete []"},
		{"changed device", []route.Route{via("10.244.1.0/26", "192.0.2.2", "trellis.vxlan")},
			[]route.Route{via("10.244.1.0/26", "192.0.2.2", "eth0")},
			"add [] replace [10.244.1.0/26 via 192.0.2.2 dev trellis.vxlan] delete []"},
		{"blackhole became unicast", []route.Route{via("10.244.0.0/26", "192.0.2.2", "")}, []route.Route{bh},
			"add [] replace [10.244.0.0/26 via 192.0.2.2] delete []"},
		{"extra deleted", nil, []route.Route{bh, ecmpKernel},
			"add [] replace [] delete [blackhole 10.244.0.0/26 10.244.3.0/26 nexthop via 192.0.2.3 dev eth0 nexthop via 192.0.2.2 dev eth0]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pl := DiffRoutes(tc.desired, tc.current)
			got := fmt.Sprintf("add %v replace %v delete %v", pl.Add, pl.Replace, pl.Delete)
			if got != tc.want {
				t.Errorf("DiffRoutes =\n %s\nwant\n %s", got, tc.want)
			}
		})
	}
}
