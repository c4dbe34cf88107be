package link

import (
	"net/netip"
	"sort"

	"github.com/trellisnet/trellis/internal/route"
)

// Protocol is the route protocol number (rtm_protocol) of every route Trellis installs.
// Numbers above 200 are unassigned in Linux's rtnetlink.h and iproute2's rt_protos; 201 is
// shown as "201" by `ip route` unless /etc/iproute2/rt_protos names it.
const Protocol = 201

// Changes counts what a sync did.
type Changes struct {
	Added, Replaced, Deleted int
}

// Plan is the difference between desired and current routes.
type Plan struct {
	Add, Replace, Delete []route.Route
}

// Empty reports whether the plan changes nothing.
func (p Plan) Empty() bool { return len(p.Add)+len(p.Replace)+len(p.Delete) == 0 }

// DiffRoutes compares desired routes with the routes of our protocol currently in the
// kernel (one per destination on each side). A current route matches a desired one when
// the destinations, the blackhole flag and the next hops are equal, where a desired next
// hop without a device matches any device (the kernel resolves and reports it).
func DiffRoutes(desired, current []route.Route) Plan {
	cur := map[netip.Prefix]route.Route{}
	for _, r := range current {
		cur[r.Dst] = r
	}
	want := map[netip.Prefix]bool{}
	var p Plan
	for _, d := range desired {
		want[d.Dst] = true
		c, ok := cur[d.Dst]
		switch {
		case !ok:
			p.Add = append(p.Add, d)
		case !Matches(d, c):
			p.Replace = append(p.Replace, d)
		}
	}
	for _, c := range current {
		if !want[c.Dst] {
			p.Delete = append(p.Delete, c)
		}
	}
	sort.Slice(p.Delete, func(i, j int) bool { return p.Delete[i].Dst.String() < p.Delete[j].Dst.String() })
	return p
}

// Matches reports whether the kernel route current satisfies desired.
func Matches(desired, current route.Route) bool {
	if desired.Dst != current.Dst || desired.Blackhole != current.Blackhole {
		return false
	}
	if desired.Blackhole {
		return true
	}
	if len(desired.NextHops) != len(current.NextHops) {
		return false
	}
	used := make([]bool, len(current.NextHops))
	for _, d := range desired.NextHops {
		found := false
		for i, c := range current.NextHops {
			if !used[i] && d.Via == c.Via && d.OnLink == c.OnLink && (d.Dev == "" || d.Dev == c.Dev) {
				used[i], found = true, true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}
