package policy

import (
	"maps"
	"net/netip"
	"slices"
	"strings"

	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/trellisnet/trellis/internal/model"
)

// KeyServiceSlice is the input kind of ServiceSlice.
const KeyServiceSlice KeyKind = "ServiceSlice"

// ServiceSlice is one EndpointSlice: endpoints of the Service it names, which rules with
// source.services (their addresses) and destination.services (their addresses and ports)
// match. Every endpoint counts, ready or not: policy is about identity.
type ServiceSlice struct {
	Namespace string
	Name      string
	// Service is the slice's kubernetes.io/service-name label.
	Service string
	Addrs   []netip.Addr
	Ports   []NamedPort
}

// Key implements Resource.
func (s *ServiceSlice) Key() Key {
	return Key{Kind: KeyServiceSlice, Namespace: s.Namespace, Name: s.Name}
}

// FromEndpointSlice converts an EndpointSlice (nil for a slice without a service-name
// label or of FQDN addresses, which no rule can match).
func FromEndpointSlice(o *discoveryv1.EndpointSlice) *ServiceSlice {
	svc := o.Labels[discoveryv1.LabelServiceName]
	if svc == "" || o.AddressType == discoveryv1.AddressTypeFQDN {
		return nil
	}
	s := &ServiceSlice{Namespace: o.Namespace, Name: o.Name, Service: svc}
	for _, e := range o.Endpoints {
		for _, a := range e.Addresses {
			if addr, err := netip.ParseAddr(a); err == nil {
				s.Addrs = append(s.Addrs, addr.Unmap())
			}
		}
	}
	for _, p := range o.Ports {
		if p.Port == nil || *p.Port <= 0 || *p.Port > 65535 {
			continue
		}
		np := NamedPort{Proto: "tcp", Port: uint16(*p.Port)}
		if p.Name != nil {
			np.Name = *p.Name
		}
		if p.Protocol != nil {
			np.Proto = strings.ToLower(string(*p.Protocol))
		}
		s.Ports = append(s.Ports, np)
	}
	return s
}

// svcEntry is a live service set: the addresses (or, with ports, the address, protocol,
// port tuples) of a Service's endpoints.
type svcEntry struct {
	service string // namespace/name
	ports   bool
	id      string
	refs    int
}

// svcIndex holds the slices and the service sets rules reference.
type svcIndex struct {
	slices    map[string]*ServiceSlice       // by namespace/slice
	bySvc     map[string]map[string]struct{} // slice keys by namespace/service
	entries   map[string]*svcEntry           // by service key and ports
	byID      map[string]*svcEntry
	bySvcSets map[string][]*svcEntry // live entries by namespace/service
}

func (c *Calculator) services() *svcIndex {
	if c.svc == nil {
		c.svc = &svcIndex{slices: map[string]*ServiceSlice{}, bySvc: map[string]map[string]struct{}{},
			entries: map[string]*svcEntry{}, byID: map[string]*svcEntry{}, bySvcSets: map[string][]*svcEntry{}}
	}
	return c.svc
}

// updateServiceSlice adds or replaces a slice; deleteServiceSlice removes one.
func (c *Calculator) updateServiceSlice(s *ServiceSlice) {
	x := c.services()
	key := s.Namespace + "/" + s.Name
	if old, ok := x.slices[key]; ok {
		c.deleteServiceSlice(old.Namespace, old.Name)
	}
	x.slices[key] = s
	addTo(x.bySvc, s.Namespace+"/"+s.Service, key)
	c.serviceChanged(s.Namespace + "/" + s.Service)
}

func (c *Calculator) deleteServiceSlice(ns, name string) {
	x := c.services()
	key := ns + "/" + name
	s, ok := x.slices[key]
	if !ok {
		return
	}
	delete(x.slices, key)
	svc := s.Namespace + "/" + s.Service
	if m := x.bySvc[svc]; m != nil {
		delete(m, key)
		if len(m) == 0 {
			delete(x.bySvc, svc)
		}
	}
	c.serviceChanged(svc)
}

func (c *Calculator) serviceChanged(svc string) {
	for _, e := range c.services().bySvcSets[svc] {
		c.dirtySet[e.id] = struct{}{}
	}
}

// serviceSet acquires the set of Service svc (namespace/name) for a rule, with ports for
// destination matches.
func (cp compiler) serviceSet(svc string, ports bool) string {
	x := cp.c.services()
	key := "service " + svc
	if ports {
		key += " ports"
	}
	e, ok := x.entries[key]
	if !ok {
		e = &svcEntry{service: svc, ports: ports, id: setID("v-", key)}
		x.entries[key] = e
		x.byID[e.id] = e
		x.bySvcSets[svc] = append(x.bySvcSets[svc], e)
	}
	e.refs++
	cp.refs.svcs = append(cp.refs.svcs, e)
	return e.id
}

// releaseServices drops references to service sets.
func (c *Calculator) releaseServices(es []*svcEntry) {
	x := c.services()
	for _, e := range es {
		e.refs--
		if e.refs > 0 {
			continue
		}
		key := "service " + e.service
		if e.ports {
			key += " ports"
		}
		delete(x.entries, key)
		delete(x.byID, e.id)
		x.bySvcSets[e.service] = slices.DeleteFunc(x.bySvcSets[e.service], func(o *svcEntry) bool { return o == e })
		if len(x.bySvcSets[e.service]) == 0 {
			delete(x.bySvcSets, e.service)
		}
	}
}

// serviceMatch applies a rule side's services match to m: the endpoints' addresses, and
// for the destination their ports. A Service's namespace defaults to the rule's.
func (cp compiler) serviceMatch(m *Match, sm *model.ServiceMatch, ns string, destination bool) {
	if sm == nil {
		return
	}
	svcNS := sm.Namespace
	if svcNS == "" {
		svcNS = ns
	}
	id := cp.serviceSet(svcNS+"/"+sm.Name, destination)
	if destination {
		m.NamedPortSets = append(m.NamedPortSets, id)
		slices.Sort(m.NamedPortSets)
		m.NamedPortSets = slices.Compact(m.NamedPortSets)
		return
	}
	m.IPSets = append(m.IPSets, id)
	slices.Sort(m.IPSets)
	m.IPSets = slices.Compact(m.IPSets)
}

// serviceIPSet materialises a service set, or reports false for an unknown id.
func (c *Calculator) serviceIPSet(id string) (IPSet, bool) {
	if c.svc == nil {
		return IPSet{}, false
	}
	e, ok := c.svc.byID[id]
	if !ok {
		return IPSet{}, false
	}
	out := IPSet{ID: id, Kind: SetNets, Expr: "service " + e.service}
	if e.ports {
		out.Kind, out.Expr = SetNamedPort, out.Expr+" ports"
	}
	for _, key := range slices.Sorted(maps.Keys(c.svc.bySvc[e.service])) {
		s := c.svc.slices[key]
		for _, a := range s.Addrs {
			host := netip.PrefixFrom(a, a.BitLen())
			if !e.ports {
				out.Members = append(out.Members, Member{Prefix: host})
				continue
			}
			for _, p := range s.Ports {
				out.Members = append(out.Members, Member{Prefix: host, Proto: p.Proto, Port: p.Port})
			}
		}
	}
	slices.SortFunc(out.Members, compareMember)
	out.Members = slices.Compact(out.Members)
	return out, true
}
