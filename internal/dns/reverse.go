package dns

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"

	mdns "github.com/miekg/dns"
)

// The reverse zones answered beside the cluster zone, as CoreDNS's kubernetes plugin does
// when configured with them (kubeadm's default Corefile).
const (
	reverseV4 = "in-addr.arpa."
	reverseV6 = "ip6.arpa."
)

// inReverseZone reports whether name (lower case, fully qualified) is in a reverse zone.
func inReverseZone(name string) bool {
	return name == reverseV4 || name == reverseV6 ||
		strings.HasSuffix(name, "."+reverseV4) || strings.HasSuffix(name, "."+reverseV6)
}

// reverseAddr parses 5.0.244.10.in-addr.arpa. or the 32 nibbles of an ip6.arpa. name.
func reverseAddr(name string) (netip.Addr, bool) {
	switch {
	case strings.HasSuffix(name, "."+reverseV4):
		labels := strings.Split(strings.TrimSuffix(name, "."+reverseV4), ".")
		if len(labels) != 4 {
			return netip.Addr{}, false
		}
		var b [4]byte
		for i, l := range labels {
			n, err := strconv.ParseUint(l, 10, 8)
			if err != nil || strconv.FormatUint(n, 10) != l {
				return netip.Addr{}, false
			}
			b[3-i] = byte(n)
		}
		return netip.AddrFrom4(b), true
	case strings.HasSuffix(name, "."+reverseV6):
		labels := strings.Split(strings.TrimSuffix(name, "."+reverseV6), ".")
		if len(labels) != 32 {
			return netip.Addr{}, false
		}
		var b [16]byte
		for i, l := range labels {
			n, err := strconv.ParseUint(l, 16, 4)
			if err != nil || len(l) != 1 {
				return netip.Addr{}, false
			}
			b[15-i/2] |= byte(n) << (4 * (i % 2))
		}
		return netip.AddrFrom16(b), true
	}
	return netip.Addr{}, false
}

// reverseAnswer answers a PTR question for an address: a service's cluster IP names the
// service, a ready endpoint of a headless service names that endpoint
// (<host>.<svc>.<ns>.svc.<zone>). Any other name in the reverse zones gets NXDOMAIN and is
// never forwarded. The caller holds v.mu.
func (v *view) reverseAnswer(zone, name string, qtype uint16) result {
	a, ok := reverseAddr(name)
	if !ok {
		return result{rcode: mdns.RcodeNameError}
	}
	targets := v.namesOf(zone, a)
	if len(targets) == 0 {
		return result{rcode: mdns.RcodeNameError}
	}
	if qtype != mdns.TypePTR && qtype != mdns.TypeANY {
		return result{}
	}
	var r result
	for _, t := range targets {
		r.answer = append(r.answer, &mdns.PTR{Hdr: hdr(name, mdns.TypePTR), Ptr: t})
	}
	return r
}

// namesOf lists the cluster names of address a, sorted.
func (v *view) namesOf(zone string, a netip.Addr) []string {
	var out []string
	for _, svc := range v.services {
		svcName := strings.ToLower(svc.Name + "." + svc.Namespace + ".svc." + zone + ".")
		if headless(svc) {
			for _, ep := range v.readyEndpoints(svc) {
				if ep.addr == a {
					out = append(out, ep.host+"."+svcName)
				}
			}
			continue
		}
		ips := svc.Spec.ClusterIPs
		if len(ips) == 0 && svc.Spec.ClusterIP != "" {
			ips = []string{svc.Spec.ClusterIP}
		}
		for _, ip := range ips {
			if c, err := netip.ParseAddr(ip); err == nil && c == a {
				out = append(out, svcName)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
