//go:build !linux

package routing

import "errors"

// openRouteDataplane: pod routing is programmed through netlink, Linux only.
func openRouteDataplane() (routeDataplane, error) {
	return nil, errors.New("pod routing needs Linux (netlink)")
}
