package lab

import (
	"context"
	"net/netip"
	"time"

	"github.com/trellisnet/trellis/internal/controller"
)

// ServiceCIDR6 is the IPv6 service range of a dual-stack lab (lab up --ipv6), apart from
// its pod pool and underlay in 2001:db8::/32.
var ServiceCIDR6 = netip.MustParsePrefix("2001:db8:96::/112")

// runClusterControllers runs the cluster's Service allocator, LoadBalancer IPAM and
// EndpointSlice controller (internal/controller) in the lab controller's process, with
// the lab's service CIDR, until ctx ends.
func (c *Controller) runClusterControllers(ctx context.Context) {
	cfg := controller.DefaultConfig()
	if c.state.IPv6 {
		// Dual-stack lab: services with ipFamilyPolicy PreferDualStack or RequireDualStack
		// (or ipFamilies [IPv6]) get an IPv6 cluster IP too; IPv4 stays the primary family.
		cfg.ServiceCIDRs = append(cfg.ServiceCIDRs, ServiceCIDR6)
	}
	cfg.DatastoreEndpoint = Endpoint(c.name)
	cc, err := controller.New(cfg, c.st, c.log.With("component", "cluster-controllers"))
	if err != nil {
		c.log.Error("cluster controllers", "err", err)
		return
	}
	for ctx.Err() == nil {
		if err := cc.Run(ctx); err != nil {
			c.log.Error("cluster controllers stopped: restarting", "err", err)
			time.Sleep(time.Second)
		}
	}
}
