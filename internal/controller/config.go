package controller

import (
	"fmt"
	"net/netip"
	"slices"
	"time"
)

// Config holds the cluster's service ranges.
type Config struct {
	// ServiceCIDRs are the ranges of cluster IPs, at most one per family; the first one's
	// family is the cluster's primary family.
	ServiceCIDRs []netip.Prefix
	// Reserved addresses are never handed out automatically (the DNS service's address).
	Reserved []netip.Addr
	// NodePortMin and NodePortMax bound node ports (30000-32767 when zero).
	NodePortMin, NodePortMax int32
	// Resync is the period of full reconciliations besides watch events (30s when zero).
	Resync time.Duration
	// DatastoreEndpoint names the datastore in the warning logged while it cannot be
	// reached.
	DatastoreEndpoint string
	// Loops names the loops to run (AllLoops' names); empty runs all. Which run also
	// depends on the store (Controller.Run): on a Kubernetes cluster its own controllers
	// keep EndpointSlices and empty deleted namespaces, and nodes and ipamgc run only
	// there; the install manifests name services, nodes and ipamgc.
	Loops []string
	// IPAMGCGrace is how long an address must have been leaked (no pod holds it) before
	// the ipamgc loop releases it (Calico's leakGracePeriod, 15m in the install
	// manifests); 0 turns the loop off.
	IPAMGCGrace time.Duration
}

// Loop names, in the order Run starts them.
const (
	LoopServices       = "services"
	LoopEndpointSlices = "endpointslices"
	LoopEndpointLabels = "endpointlabels"
	LoopNamespaces     = "namespaces"
	// LoopNodes and LoopIPAMGC run over a Kubernetes datastore only.
	LoopNodes  = "nodes"
	LoopIPAMGC = "ipamgc"
)

// AllLoops are the names Config.Loops may hold.
var AllLoops = []string{LoopServices, LoopEndpointSlices, LoopEndpointLabels, LoopNamespaces, LoopNodes, LoopIPAMGC}

func (c Config) runs(loop string) bool {
	return len(c.Loops) == 0 || slices.Contains(c.Loops, loop)
}

// Lab defaults, outside the lab fabric (10.99.0.0/24) and the pod pool (10.244.0.0/16).
var (
	DefaultServiceCIDR = netip.MustParsePrefix("10.96.0.0/16")
	DefaultDNSAddr     = netip.MustParseAddr("10.96.0.10")
)

// DefaultConfig is the lab's configuration.
func DefaultConfig() Config {
	return Config{ServiceCIDRs: []netip.Prefix{DefaultServiceCIDR}, Reserved: []netip.Addr{DefaultDNSAddr}}
}

func (c Config) withDefaults() Config {
	if c.NodePortMin == 0 && c.NodePortMax == 0 {
		c.NodePortMin, c.NodePortMax = 30000, 32767
	}
	if c.Resync <= 0 {
		c.Resync = 30 * time.Second
	}
	return c
}

// Validate checks the ranges.
func (c Config) Validate() error {
	c = c.withDefaults()
	if len(c.ServiceCIDRs) == 0 || len(c.ServiceCIDRs) > 2 {
		return fmt.Errorf("service CIDRs %v: want one or two (one per family)", c.ServiceCIDRs)
	}
	if len(c.ServiceCIDRs) == 2 && c.ServiceCIDRs[0].Addr().Is4() == c.ServiceCIDRs[1].Addr().Is4() {
		return fmt.Errorf("service CIDRs %v: two of the same family", c.ServiceCIDRs)
	}
	for _, p := range c.ServiceCIDRs {
		if !p.IsValid() || p.Masked() != p {
			return fmt.Errorf("service CIDR %s: not a valid network prefix", p)
		}
		if p.Addr().BitLen()-p.Bits() < 2 {
			return fmt.Errorf("service CIDR %s: too small", p)
		}
	}
	for _, l := range c.Loops {
		if !slices.Contains(AllLoops, l) {
			return fmt.Errorf("controller %q: unknown (known: %v)", l, AllLoops)
		}
	}
	if c.IPAMGCGrace < 0 {
		return fmt.Errorf("ipam gc grace %s: negative (0 turns it off)", c.IPAMGCGrace)
	}
	if c.NodePortMin < 1 || c.NodePortMax > 65535 || c.NodePortMin > c.NodePortMax {
		return fmt.Errorf("node port range %d-%d: invalid", c.NodePortMin, c.NodePortMax)
	}
	return nil
}
