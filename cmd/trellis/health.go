package main

import (
	"net"

	"github.com/spf13/cobra"

	"github.com/trellisnet/trellis/internal/ctl"
	"github.com/trellisnet/trellis/internal/healthsrv"
)

// healthAddrEnv is the environment variable of every long-running component's
// --health-addr, metricsAddrEnv that of the node agent's --metrics-addr (envNames).
const (
	healthAddrEnv  = "TRELLIS_HEALTH_ADDR"
	metricsAddrEnv = "TRELLIS_METRICS_ADDR"
)

// addHealthFlag adds --health-addr, the TCP address of the component's /healthz, /readyz
// and /metrics, to c. Its default is off for the components that may run several to a
// machine (lab, tests), where any fixed port would make the second one fail to start.
func addHealthFlag(c *cobra.Command, addr *string) {
	c.Flags().StringVar(addr, "health-addr", healthsrv.Disabled,
		"TCP HOST:PORT of /healthz, /readyz and /metrics (Prometheus), or \"none\" [$"+healthAddrEnv+"]")
}

// checkHealthAddr checks a --health-addr value.
func checkHealthAddr(addr string) error { return checkAddr("--health-addr", addr) }

// checkAddr checks the value of a listen-address flag: HOST:PORT or none.
func checkAddr(flag, addr string) error {
	if addr == healthsrv.Disabled {
		return nil
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return ctl.Usagef("invalid %s %q: want HOST:PORT or none", flag, addr)
	}
	return nil
}
