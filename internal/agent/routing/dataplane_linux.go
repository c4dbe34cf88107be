package routing

import (
	"fmt"

	"github.com/vishvananda/netlink"

	"github.com/trellisnet/trellis/internal/dataplane/link"
)

// openRouteDataplane opens a netlink handle in the process's own network namespace (the
// agent runs inside its node's namespace).
func openRouteDataplane() (routeDataplane, error) {
	h, err := netlink.NewHandle()
	if err != nil {
		return nil, fmt.Errorf("open netlink handle for routing: %w", err)
	}
	return link.New(h), nil
}
