package agent

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/trellisnet/trellis/internal/dataplane/nft"
	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/policy"
	"github.com/trellisnet/trellis/internal/service"
)

// ServiceHost is the service proxy's access to the node's network namespace beyond
// nftables. Nil functions turn the corresponding feature off.
type ServiceHost struct {
	// Listen opens a TCP listener on port on all the node's addresses (health-check node
	// ports).
	Listen func(port int) (net.Listener, error)
	// FlushUDP deletes the conntrack entries of UDP flows that were DNATed to one of eps
	// (endpoints removed from a service), so that clients stop sending to them.
	FlushUDP func(eps []netip.AddrPort) (int, error)
}

// serviceKinds are the kinds the service proxy reads that the policy calculation does
// not (EndpointSlices are read by both).
func serviceKinds() []*model.Kind {
	var out []*model.Kind
	for _, name := range []string{"services", "endpointslices.discovery.k8s.io"} {
		k, err := model.Resolve(name)
		if err != nil {
			continue
		}
		obj := k.New()
		obj.SetName("default")
		obj.SetNamespace("default")
		if _, ok := policy.KeyOf(obj); !ok {
			out = append(out, k)
		}
	}
	return out
}

// serviceProxy keeps the Services and EndpointSlices the watch recorded, recomputes the
// service state of the Services whose inputs changed and renders it, and after a
// successful sync flushes stale UDP conntrack entries, serves health-check node ports
// and updates metrics. Everything but the health-check handlers runs on the runner
// goroutine.
type serviceProxy struct {
	node     string
	host     ServiceHost
	log      *slog.Logger
	services map[string]*corev1.Service                       // by namespace/name
	slices   map[objKey]*discoveryv1.EndpointSlice            // all slices
	bySvc    map[string]map[objKey]*discoveryv1.EndpointSlice // slices by namespace/service
	parts    map[string]service.Part                          // computed, by namespace/name
	dirty    map[string]bool                                  // services to recompute
	renderer *nft.ServiceRenderer
	state    *service.State // last computed
	table    *nft.Table     // last rendered
	// programmedState is the state of the last successful sync.
	programmedState *service.State
	checks          map[uint16]*healthServer
	// frontends maps the programmed state's frontends to their Services (flow logs).
	frontends *serviceFrontends

	ports, services2, endpoints prometheus.Gauge
	counts                      serviceCounts // of the last programmed state
	flushed                     prometheus.Counter
}

func newServiceProxy(cfg Config, host ServiceHost, reg *prometheus.Registry, log *slog.Logger) *serviceProxy {
	p := &serviceProxy{
		node: cfg.NodeName, host: host, log: log,
		renderer: nft.NewServiceRenderer(nft.Config{IfPrefix: cfg.WorkloadPrefix}),
		checks:   map[uint16]*healthServer{}, frontends: &serviceFrontends{},
	}
	p.reset()
	gauge := func(name, help string) prometheus.Gauge {
		g := prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "trellis", Subsystem: "agent", Name: name, Help: help})
		reg.MustRegister(g)
		return g
	}
	p.ports = gauge("service_ports", "Service ports (per IP family) programmed.")
	p.services2 = gauge("services", "Services with at least one port programmed.")
	p.endpoints = gauge("service_endpoints", "Service endpoints programmed (summed over service ports).")
	p.flushed = prometheus.NewCounter(prometheus.CounterOpts{Namespace: "trellis", Subsystem: "agent",
		Name: "service_conntrack_flushed_total", Help: "UDP conntrack entries deleted because their service endpoint went away."})
	reg.MustRegister(p.flushed)
	return p
}

// reset forgets everything recorded (a new snapshot follows).
func (p *serviceProxy) reset() {
	p.services = map[string]*corev1.Service{}
	p.slices = map[objKey]*discoveryv1.EndpointSlice{}
	p.bySvc = map[string]map[objKey]*discoveryv1.EndpointSlice{}
	p.parts = map[string]service.Part{}
	p.dirty = map[string]bool{}
	p.table = nil
}

// update records one object (nil: deleted) and reports whether it is the proxy's alone
// (a Service); EndpointSlices also go to the policy calculation (rules matching services).
func (p *serviceProxy) update(k objKey, obj model.Object) bool {
	switch {
	case k.kind.Kind == "Service" && k.kind.Group == "":
		key := k.namespace + "/" + k.name
		if svc, ok := obj.(*corev1.Service); ok {
			p.services[key] = svc
		} else {
			delete(p.services, key)
		}
		p.dirty[key] = true
		return true
	case k.kind.Kind == "EndpointSlice" && k.kind.Group == "discovery.k8s.io":
		if old, ok := p.slices[k]; ok {
			svc := sliceService(old)
			delete(p.bySvc[svc], k)
			if len(p.bySvc[svc]) == 0 {
				delete(p.bySvc, svc)
			}
			p.dirty[svc] = true
			delete(p.slices, k)
		}
		if sl, ok := obj.(*discoveryv1.EndpointSlice); ok && sl.Labels[service.LabelServiceName] != "" {
			svc := sliceService(sl)
			p.slices[k] = sl
			if p.bySvc[svc] == nil {
				p.bySvc[svc] = map[objKey]*discoveryv1.EndpointSlice{}
			}
			p.bySvc[svc][k] = sl
			p.dirty[svc] = true
		}
		return false
	}
	return false
}

func sliceService(sl *discoveryv1.EndpointSlice) string {
	return sl.Namespace + "/" + sl.Labels[service.LabelServiceName]
}

// changed reports whether the service state must be computed again.
func (p *serviceProxy) changed() bool { return len(p.dirty) > 0 || p.table == nil }

// render returns the table of the current service state, recomputing the Services whose
// inputs changed since the last call.
func (p *serviceProxy) render() *nft.Table {
	if !p.changed() {
		return p.table
	}
	for key := range p.dirty {
		svc, ok := p.services[key]
		if !ok {
			delete(p.parts, key)
			continue
		}
		var sl []*discoveryv1.EndpointSlice
		for _, s := range p.bySvc[key] {
			sl = append(sl, s)
		}
		p.parts[key] = service.ComputeService(p.node, svc, sl)
	}
	p.dirty = map[string]bool{}
	parts := make([]service.Part, 0, len(p.parts))
	for _, part := range p.parts {
		parts = append(parts, part)
	}
	p.state = service.Assemble(parts)
	p.table = p.renderer.Render(p.state)
	return p.table
}

// programmed runs after a successful sync of the current state.
func (p *serviceProxy) programmed(ctx context.Context) {
	st := p.state
	if st == nil {
		return
	}
	if p.host.FlushUDP != nil && p.programmedState != nil {
		if gone := removedUDPEndpoints(p.programmedState, st); len(gone) > 0 {
			n, err := p.host.FlushUDP(gone)
			if err != nil {
				p.log.Warn("flush conntrack of removed UDP service endpoints failed", "endpoints", len(gone), "err", err)
			}
			p.flushed.Add(float64(n))
		}
	}
	if st != p.programmedState {
		p.frontends.set(st)
	}
	p.programmedState = st
	p.syncHealthChecks(ctx, st)
	svcs := map[string]bool{}
	eps := 0
	for i := range st.Ports {
		svcs[st.Ports[i].Namespace+"/"+st.Ports[i].Service] = true
		eps += len(st.Ports[i].Cluster)
	}
	p.ports.Set(float64(len(st.Ports)))
	p.services2.Set(float64(len(svcs)))
	p.endpoints.Set(float64(eps))
	p.counts = serviceCounts{services: len(svcs), ports: len(st.Ports), endpoints: eps}
}

// serviceFrontends finds the Service of a connection's original destination: a cluster,
// external or load-balancer IP and port, or a node port on any address (the addresses
// the service proxy translates). Safe for concurrent use: the flow collector reads it.
type serviceFrontends struct {
	m atomic.Pointer[map[frontendKey]string]
}

type frontendKey struct {
	addr  netip.Addr // invalid for a node port
	proto string
	port  uint16
}

// set indexes a programmed service state.
func (f *serviceFrontends) set(st *service.State) {
	m := make(map[frontendKey]string, len(st.Ports))
	for i := range st.Ports {
		sp := &st.Ports[i]
		name := sp.Namespace + "/" + sp.Service
		for _, a := range append(append([]netip.Addr{sp.ClusterIP}, sp.ExternalIPs...), sp.LoadBalancerIPs...) {
			if a.IsValid() {
				m[frontendKey{a, sp.Protocol, sp.Port}] = name
			}
		}
		if sp.NodePort != 0 {
			m[frontendKey{netip.Addr{}, sp.Protocol, sp.NodePort}] = name
		}
	}
	f.m.Store(&m)
}

// Service implements collect.Services.
func (f *serviceFrontends) Service(dst netip.AddrPort, proto string) (string, bool) {
	m := f.m.Load()
	if m == nil {
		return "", false
	}
	if name, ok := (*m)[frontendKey{dst.Addr(), proto, dst.Port()}]; ok {
		return name, true
	}
	name, ok := (*m)[frontendKey{netip.Addr{}, proto, dst.Port()}]
	return name, ok
}

// serviceCounts is what the last programmed service state held, for status.
type serviceCounts struct{ services, ports, endpoints int }

// removedUDPEndpoints lists the UDP endpoints traffic could be sent to in old but not in
// cur, sorted.
func removedUDPEndpoints(old, cur *service.State) []netip.AddrPort {
	have := map[netip.AddrPort]bool{}
	collect := func(st *service.State, fn func(netip.AddrPort)) {
		for i := range st.Ports {
			if st.Ports[i].Protocol != "udp" {
				continue
			}
			for _, eps := range [][]service.Endpoint{st.Ports[i].Cluster, st.Ports[i].Local} {
				for _, e := range eps {
					fn(e.AddrPort())
				}
			}
		}
	}
	collect(cur, func(ap netip.AddrPort) { have[ap] = true })
	seen := map[netip.AddrPort]bool{}
	var out []netip.AddrPort
	collect(old, func(ap netip.AddrPort) {
		if !have[ap] && !seen[ap] {
			seen[ap] = true
			out = append(out, ap)
		}
	})
	sortAddrPorts(out)
	return out
}

func sortAddrPorts(aps []netip.AddrPort) {
	for i := 1; i < len(aps); i++ {
		for j := i; j > 0 && aps[j].Compare(aps[j-1]) < 0; j-- {
			aps[j], aps[j-1] = aps[j-1], aps[j]
		}
	}
}

// healthServer answers one health-check node port.
type healthServer struct {
	srv  *http.Server // nil: listening failed, tried again at the next sync
	info atomic.Pointer[healthInfo]
}

type healthInfo struct {
	Service        healthService `json:"service"`
	LocalEndpoints int           `json:"localEndpoints"`
}

type healthService struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
}

func (h *healthServer) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	info := h.info.Load()
	w.Header().Set("Content-Type", "application/json")
	if info.LocalEndpoints == 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_ = json.NewEncoder(w).Encode(info)
}

// syncHealthChecks starts, updates and stops health-check servers to match st.
func (p *serviceProxy) syncHealthChecks(ctx context.Context, st *service.State) {
	if p.host.Listen == nil {
		return
	}
	want := map[uint16]bool{}
	for _, hc := range st.HealthChecks {
		want[hc.Port] = true
		info := &healthInfo{Service: healthService{Namespace: hc.Namespace, Name: hc.Service}, LocalEndpoints: hc.LocalEndpoints}
		h := p.checks[hc.Port]
		if h == nil || h.srv == nil {
			ln, err := p.host.Listen(int(hc.Port))
			if err != nil {
				p.log.Warn("listen on health-check node port failed; retrying at the next sync", "port", hc.Port,
					"service", hc.Namespace+"/"+hc.Service, "err", err)
				p.checks[hc.Port] = &healthServer{}
				continue
			}
			h = &healthServer{}
			h.info.Store(info)
			h.srv = &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second,
				BaseContext: func(net.Listener) context.Context { return ctx }}
			p.checks[hc.Port] = h
			go func() {
				if err := h.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
					p.log.Warn("health-check node port server stopped", "port", strconv.Itoa(int(hc.Port)), "err", err)
				}
			}()
		}
		h.info.Store(info)
	}
	for port, h := range p.checks {
		if !want[port] {
			if h.srv != nil {
				_ = h.srv.Close()
			}
			delete(p.checks, port)
		}
	}
}

// stop closes every health-check server.
func (p *serviceProxy) stop() {
	for port, h := range p.checks {
		if h.srv != nil {
			_ = h.srv.Close()
		}
		delete(p.checks, port)
	}
}
