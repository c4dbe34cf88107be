package dns

import (
	"net"
	"net/netip"
	"slices"
	"strings"

	mdns "github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// TTL of every record, short so that the lab's changes show quickly.
const TTL = 5

// result is the answer to one question.
type result struct {
	rcode  int
	answer []mdns.RR
	extra  []mdns.RR
}

// answer resolves one question against the view. zone is lower case without dots at
// either end ("cluster.local").
func (v *view) answer(zone string, q mdns.Question) result {
	name := strings.ToLower(mdns.Fqdn(q.Name))
	apex := zone + "."
	if q.Qclass != mdns.ClassINET && q.Qclass != mdns.ClassANY {
		return result{rcode: mdns.RcodeNameError}
	}
	if name == apex {
		return v.apexAnswer(zone, q)
	}
	if inReverseZone(name) {
		v.mu.RLock()
		defer v.mu.RUnlock()
		return v.reverseAnswer(zone, name, q.Qtype)
	}
	if !strings.HasSuffix(name, "."+apex) {
		return result{rcode: mdns.RcodeNameError} // never forwarded
	}
	labels := strings.Split(strings.TrimSuffix(name, "."+apex), ".")
	slices.Reverse(labels) // from the zone outwards: svc|pod, ns, ...
	v.mu.RLock()
	defer v.mu.RUnlock()
	switch {
	case len(labels) == 1 && (labels[0] == "svc" || labels[0] == "pod"):
		return result{}
	case len(labels) >= 2 && labels[0] == "pod":
		if len(labels) != 3 {
			return result{rcode: mdns.RcodeNameError}
		}
		return podAnswer(name, labels[2], q.Qtype)
	case len(labels) == 2 && labels[0] == "svc":
		if v.hasNamespace(labels[1]) {
			return result{}
		}
		return result{rcode: mdns.RcodeNameError}
	case len(labels) >= 3 && labels[0] == "svc":
		svc := v.services[key(labels[1], labels[2])]
		if svc == nil {
			return result{rcode: mdns.RcodeNameError}
		}
		switch len(labels) {
		case 3:
			return v.serviceAnswer(name, svc, q.Qtype)
		case 4:
			return v.endpointAnswer(name, svc, labels[3], q.Qtype)
		case 5:
			if strings.HasPrefix(labels[4], "_") && strings.HasPrefix(labels[3], "_") {
				return v.srvAnswer(zone, name, svc, labels[4][1:], labels[3][1:], q.Qtype)
			}
		}
	}
	return result{rcode: mdns.RcodeNameError}
}

func (v *view) hasNamespace(ns string) bool {
	for k := range v.services {
		if strings.HasPrefix(k, ns+"/") {
			return true
		}
	}
	return false
}

func hdr(name string, t uint16) mdns.RR_Header {
	return mdns.RR_Header{Name: name, Rrtype: t, Class: mdns.ClassINET, Ttl: TTL}
}

// addrRR returns an A or AAAA record for a when qtype asks for its family.
func addrRR(name string, a netip.Addr, qtype uint16) (mdns.RR, bool) {
	switch {
	case a.Is4() && (qtype == mdns.TypeA || qtype == mdns.TypeANY):
		return &mdns.A{Hdr: hdr(name, mdns.TypeA), A: net.IP(a.AsSlice())}, true
	case a.Is6() && (qtype == mdns.TypeAAAA || qtype == mdns.TypeANY):
		return &mdns.AAAA{Hdr: hdr(name, mdns.TypeAAAA), AAAA: net.IP(a.AsSlice())}, true
	}
	return nil, false
}

func addrAnswer(name string, addrs []netip.Addr, qtype uint16) result {
	var r result
	for _, a := range addrs {
		if rr, ok := addrRR(name, a, qtype); ok {
			r.answer = append(r.answer, rr)
		}
	}
	return r
}

// podAnswer answers 10-244-1-5.<ns>.pod.<zone> with the address the label spells.
func podAnswer(name, label string, qtype uint16) result {
	a, ok := dashedAddr(label)
	if !ok {
		return result{rcode: mdns.RcodeNameError}
	}
	return addrAnswer(name, []netip.Addr{a}, qtype)
}

// dashedAddr parses 10-244-1-5 or 2001-db8--1.
func dashedAddr(label string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(strings.ReplaceAll(label, "-", ".")); err == nil && a.Is4() {
		return a, true
	}
	if a, err := netip.ParseAddr(strings.ReplaceAll(label, "-", ":")); err == nil && a.Is6() {
		return a, true
	}
	return netip.Addr{}, false
}

// Dashed spells an address the way pod and endpoint names do.
func Dashed(a netip.Addr) string {
	if a.Is4() {
		return strings.ReplaceAll(a.String(), ".", "-")
	}
	return strings.ReplaceAll(a.String(), ":", "-")
}

func headless(svc *corev1.Service) bool { return svc.Spec.ClusterIP == corev1.ClusterIPNone }

// readyEndpoints lists the service's ready endpoints, sorted and without duplicates.
func (v *view) readyEndpoints(svc *corev1.Service) []readyEndpoint {
	var out []readyEndpoint
	names := make([]string, 0, len(v.slices[key(svc.Namespace, svc.Name)]))
	for n := range v.slices[key(svc.Namespace, svc.Name)] {
		names = append(names, n)
	}
	slices.Sort(names)
	seen := map[netip.Addr]bool{}
	for _, n := range names {
		sl := v.slices[key(svc.Namespace, svc.Name)][n]
		for _, ep := range sl.Endpoints {
			if ep.Conditions.Ready != nil && !*ep.Conditions.Ready {
				continue
			}
			for _, s := range ep.Addresses {
				a, err := netip.ParseAddr(s)
				if err != nil || seen[a] {
					continue
				}
				seen[a] = true
				host := Dashed(a)
				if ep.Hostname != nil && *ep.Hostname != "" {
					host = strings.ToLower(*ep.Hostname)
				}
				out = append(out, readyEndpoint{addr: a, host: host, ports: sl.Ports})
			}
		}
	}
	slices.SortFunc(out, func(a, b readyEndpoint) int { return a.addr.Compare(b.addr) })
	return out
}

type readyEndpoint struct {
	addr  netip.Addr
	host  string
	ports []discoveryv1.EndpointPort
}

func (v *view) serviceAnswer(name string, svc *corev1.Service, qtype uint16) result {
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		if qtype == mdns.TypeA || qtype == mdns.TypeAAAA || qtype == mdns.TypeCNAME || qtype == mdns.TypeANY {
			return result{answer: []mdns.RR{&mdns.CNAME{Hdr: hdr(name, mdns.TypeCNAME), Target: mdns.Fqdn(svc.Spec.ExternalName)}}}
		}
		return result{}
	}
	var addrs []netip.Addr
	if headless(svc) {
		for _, ep := range v.readyEndpoints(svc) {
			addrs = append(addrs, ep.addr)
		}
	} else {
		ips := svc.Spec.ClusterIPs
		if len(ips) == 0 && svc.Spec.ClusterIP != "" {
			ips = []string{svc.Spec.ClusterIP}
		}
		for _, ip := range ips {
			if a, err := netip.ParseAddr(ip); err == nil {
				addrs = append(addrs, a)
			}
		}
	}
	return addrAnswer(name, addrs, qtype)
}

// endpointAnswer answers <host>.<svc>.<ns>.svc for a headless service's endpoint.
func (v *view) endpointAnswer(name string, svc *corev1.Service, host string, qtype uint16) result {
	if !headless(svc) {
		return result{rcode: mdns.RcodeNameError}
	}
	var addrs []netip.Addr
	for _, ep := range v.readyEndpoints(svc) {
		if ep.host == host {
			addrs = append(addrs, ep.addr)
		}
	}
	if len(addrs) == 0 {
		return result{rcode: mdns.RcodeNameError}
	}
	return addrAnswer(name, addrs, qtype)
}

// srvAnswer answers _<port>._<proto>.<svc>.<ns>.svc for a named port: of the service
// spec for a ClusterIP service; of the ready endpoints for a headless one, whose
// EndpointSlices may name ports its spec does not (as CoreDNS answers from endpoints).
func (v *view) srvAnswer(zone, name string, svc *corev1.Service, port, proto string, qtype uint16) result {
	svcName := strings.ToLower(svc.Name + "." + svc.Namespace + ".svc." + zone + ".")
	if headless(svc) {
		return v.headlessSRV(name, svcName, svc, port, proto, qtype)
	}
	var sp *corev1.ServicePort
	for i, p := range svc.Spec.Ports {
		if strings.EqualFold(p.Name, port) && strings.EqualFold(string(p.Protocol), proto) {
			sp = &svc.Spec.Ports[i]
		}
	}
	if sp == nil {
		return result{rcode: mdns.RcodeNameError}
	}
	if qtype != mdns.TypeSRV && qtype != mdns.TypeANY {
		return result{}
	}
	var r result
	r.answer = append(r.answer, &mdns.SRV{Hdr: hdr(name, mdns.TypeSRV), Priority: 0, Weight: 100, Port: uint16(sp.Port), Target: svcName})
	extra := v.serviceAnswer(svcName, svc, mdns.TypeANY)
	r.extra = extra.answer
	return r
}

// headlessSRV answers a headless service's SRV name from its ready endpoints' ports.
func (v *view) headlessSRV(name, svcName string, svc *corev1.Service, port, proto string, qtype uint16) result {
	var r result
	for _, ep := range v.readyEndpoints(svc) {
		for _, p := range ep.ports {
			if p.Name == nil || !strings.EqualFold(*p.Name, port) || p.Port == nil || !strings.EqualFold(slicePortProtocol(p), proto) {
				continue
			}
			target := ep.host + "." + svcName
			r.answer = append(r.answer, &mdns.SRV{Hdr: hdr(name, mdns.TypeSRV), Priority: 0, Weight: 100, Port: uint16(*p.Port), Target: target})
			if rr, ok := addrRR(target, ep.addr, mdns.TypeANY); ok {
				r.extra = append(r.extra, rr)
			}
		}
	}
	if len(r.answer) == 0 {
		for _, sp := range svc.Spec.Ports {
			if strings.EqualFold(sp.Name, port) && strings.EqualFold(string(sp.Protocol), proto) {
				return result{} // a port of the spec, no ready endpoint serves it
			}
		}
		return result{rcode: mdns.RcodeNameError}
	}
	if qtype != mdns.TypeSRV && qtype != mdns.TypeANY {
		return result{}
	}
	return r
}

// slicePortProtocol is an EndpointSlice port's protocol, TCP when unset.
func slicePortProtocol(p discoveryv1.EndpointPort) string {
	if p.Protocol == nil {
		return string(corev1.ProtocolTCP)
	}
	return string(*p.Protocol)
}

func soa(zone string) mdns.RR {
	return &mdns.SOA{Hdr: hdr(zone+".", mdns.TypeSOA), Ns: "ns.dns." + zone + ".", Mbox: "hostmaster." + zone + ".",
		Serial: 1, Refresh: 7200, Retry: 1800, Expire: 86400, Minttl: TTL}
}

func (v *view) apexAnswer(zone string, q mdns.Question) result {
	switch q.Qtype {
	case mdns.TypeSOA, mdns.TypeANY:
		return result{answer: []mdns.RR{soa(zone)}}
	case mdns.TypeNS:
		return result{answer: []mdns.RR{&mdns.NS{Hdr: hdr(zone+".", mdns.TypeNS), Ns: "ns.dns." + zone + "."}}}
	}
	return result{}
}
