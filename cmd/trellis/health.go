package main

import (
	"net"

	"github.com/spf13/cobra"

	"github.com/trellisnet/trellis/internal/ctl"
	"github.com/trellisnet/trellis/internal/healthsrv"
)

// healthAddrEnv is the environment variable of every long-running component's
// --health-addr (envNames).
const healthAddrEnv = "TRELLIS_HEALTH_ADDR"

// addHealthFlag adds --health-addr, the TCP address of the component's /healthz, /readyz
// and /metrics, to c. Its default is off for the components that may run several to a
// machine (lab, tests), where any fixed port would make the second one fail to start.
func addHealthFlag(c *cobra.Command, addr *string) {
	c.Flags().StringVar(addr, "health-addr", healthsrv.Disabled,
		"TCP HOST:PORT of /healthz, /readyz and /metrics (Prometheus), or \"none\" [$"+healthAddrEnv+"]")
}

// checkHealthAddr checks a --health-addr value.
func checkHealthAddr(addr string) error {
	if addr == healthsrv.Disabled {
		return nil
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return ctl.Usagef("invalid --health-addr %q: want HOST:PORT or none", addr)
	}
	return nil
}
