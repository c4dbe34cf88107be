package lab

import (
	"context"
	"time"

	"github.com/trellisnet/trellis/internal/controller"
)

// runClusterControllers runs the cluster's Service allocator, LoadBalancer IPAM and
// EndpointSlice controller (internal/controller) in the lab controller's process, with
// the lab's service CIDR, until ctx ends.
func (c *Controller) runClusterControllers(ctx context.Context) {
	cc, err := controller.New(controller.DefaultConfig(), c.st, c.log.With("component", "cluster-controllers"))
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
