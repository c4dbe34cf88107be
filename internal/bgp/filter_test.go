package bgp

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/route"
)

func rule(action model.BGPFilterAction, op model.BGPFilterMatchOperator, cidr string) route.FilterRule {
	p := pfx(cidr)
	return route.FilterRule{Filter: "f", Action: action, Op: op, CIDR: p, MinLen: p.Bits(), MaxLen: p.Addr().BitLen()}
}

// TestFilters runs two loopback speakers: a's import rules decide what a reports (before
// its accepted pools), b's export rules decide what b sends a, and changes to either take
// effect on the established session.
func TestFilters(t *testing.T) {
	ctx := context.Background()
	sa, sb, recA := pair(t)
	if err := sb.SetPrefixes([]netip.Prefix{pfx("10.244.1.0/26"), pfx("10.244.1.64/26"), pfx("198.51.100.0/24"), pfx("203.0.113.0/24")}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "a reports only pooled prefixes", func() (bool, string) {
		return recA.String() == "[10.244.1.0/26 via 127.0.0.2 10.244.1.64/26 via 127.0.0.2]", recA.String()
	})
	imports := []route.PeerFilter{{Peer: addr("127.0.0.2"), Import: []route.FilterRule{
		rule(model.BGPFilterReject, model.BGPFilterEqual, "10.244.1.64/26"),
		rule(model.BGPFilterAccept, model.BGPFilterIn, "198.51.100.0/16"),
		rule(model.BGPFilterAccept, model.BGPFilterEqual, "203.0.113.0/24"),
	}}}
	if err := sa.SetFilters(ctx, imports); err != nil {
		t.Fatal(err)
	}
	all := "[10.244.1.0/26 via 127.0.0.2 198.51.100.0/24 via 127.0.0.2 203.0.113.0/24 via 127.0.0.2]"
	eventually(t, 5*time.Second, "a's import filter applies", func() (bool, string) { return recA.String() == all, recA.String() })

	exports := []route.PeerFilter{{Peer: addr("127.0.0.1"), Export: []route.FilterRule{
		rule(model.BGPFilterReject, model.BGPFilterEqual, "203.0.113.0/24"),
		rule(model.BGPFilterReject, model.BGPFilterNotIn, "10.0.0.0/8"),
	}}}
	if err := sb.SetFilters(ctx, exports); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "b's export filter withdraws 198.51.100.0/24 and 203.0.113.0/24", func() (bool, string) {
		return recA.String() == "[10.244.1.0/26 via 127.0.0.2]", recA.String()
	})
	if err := sb.SetFilters(ctx, nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "removing b's filter restores them", func() (bool, string) { return recA.String() == all, recA.String() })
	if err := sa.SetFilters(ctx, nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "removing a's filter restores the pool rule", func() (bool, string) {
		return recA.String() == "[10.244.1.0/26 via 127.0.0.2 10.244.1.64/26 via 127.0.0.2]", recA.String()
	})
}
