package manifests

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"

	corev1 "k8s.io/api/core/v1"
)

// Routing modes of the default IPPool.
const (
	RoutingBGP   = "bgp"
	RoutingVXLAN = "vxlan"
)

// Options are what `trellis manifests` can change; Defaults gives deploy/trellis.yaml.
type Options struct {
	// Image is the Trellis image every container runs.
	Image string
	// PullPolicy is the containers' imagePullPolicy.
	PullPolicy corev1.PullPolicy
	// PodCIDR is the CIDR of the default IPPool.
	PodCIDR netip.Prefix
	// Routing is RoutingBGP (pods routed natively, node-to-node BGP mesh) or RoutingVXLAN.
	Routing string
	// ServiceCIDR is the API server's --service-cluster-ip-range; the controllers allocate
	// load-balancer and cluster IPs only in agreement with it.
	ServiceCIDR netip.Prefix
	// DNSIP is the cluster IP of kube-system/kube-dns (the kubelet's clusterDNS).
	DNSIP netip.Addr
	// FlowsIP is the cluster IP of the flow aggregator's Service, which the node agents
	// (in the host network, without cluster DNS) push their flows to; the address after
	// DNSIP when not set.
	FlowsIP netip.Addr
	// APIServer is the API server's real HOST:PORT, reachable from every node without a
	// service proxy; empty: the pods read it from the ConfigMap
	// trellis-system/kubernetes-services-endpoint when it exists.
	APIServer string
}

// Defaults are kubeadm's defaults: service range 10.96.0.0/12, DNS at 10.96.0.10, and
// Calico's default pool 10.244.0.0/16 routed by BGP.
func Defaults() Options {
	return Options{
		Image:       "localhost/trellis:latest",
		PullPolicy:  corev1.PullIfNotPresent,
		PodCIDR:     netip.MustParsePrefix("10.244.0.0/16"),
		Routing:     RoutingBGP,
		ServiceCIDR: netip.MustParsePrefix("10.96.0.0/12"),
		DNSIP:       netip.MustParseAddr("10.96.0.10"),
	}
}

// Validate checks the options against each other.
func (o Options) Validate() error {
	if o.Image == "" {
		return fmt.Errorf("image: must not be empty")
	}
	switch o.PullPolicy {
	case corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever:
	default:
		return fmt.Errorf("image pull policy %q: use Always, IfNotPresent or Never", o.PullPolicy)
	}
	if o.Routing != RoutingBGP && o.Routing != RoutingVXLAN {
		return fmt.Errorf("routing %q: use %s or %s", o.Routing, RoutingBGP, RoutingVXLAN)
	}
	for _, p := range []struct {
		name string
		p    netip.Prefix
	}{{"pod CIDR", o.PodCIDR}, {"service CIDR", o.ServiceCIDR}} {
		if !p.p.IsValid() || p.p.Masked() != p.p {
			return fmt.Errorf("%s %s: not a network prefix", p.name, p.p)
		}
	}
	if !o.PodCIDR.Addr().Is4() {
		return fmt.Errorf("pod CIDR %s: only an IPv4 default pool is rendered", o.PodCIDR)
	}
	if o.PodCIDR.Bits() > 26 {
		return fmt.Errorf("pod CIDR %s: smaller than one /26 block", o.PodCIDR)
	}
	if o.PodCIDR.Overlaps(o.ServiceCIDR) {
		return fmt.Errorf("pod CIDR %s overlaps service CIDR %s", o.PodCIDR, o.ServiceCIDR)
	}
	if !o.ServiceCIDR.Contains(o.DNSIP) {
		return fmt.Errorf("DNS IP %s: outside service CIDR %s", o.DNSIP, o.ServiceCIDR)
	}
	if f := o.flowsIP(); !o.ServiceCIDR.Contains(f) || f == o.DNSIP {
		return fmt.Errorf("flows IP %s: outside service CIDR %s, or the DNS IP", f, o.ServiceCIDR)
	}
	if o.APIServer != "" {
		host, port, err := net.SplitHostPort(o.APIServer)
		if err != nil || host == "" {
			return fmt.Errorf("API server %q: want HOST:PORT", o.APIServer)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("API server %q: invalid port", o.APIServer)
		}
	}
	return nil
}

// flowsIP is FlowsIP, or the address after DNSIP.
func (o Options) flowsIP() netip.Addr {
	if o.FlowsIP.IsValid() {
		return o.FlowsIP
	}
	return o.DNSIP.Next()
}
