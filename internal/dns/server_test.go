package dns

import (
	"context"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	mdns "github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/store"
	"github.com/trellisnet/trellis/internal/store/memory"
)

func service(ns, name, clusterIP string, mod func(*corev1.Service)) *corev1.Service {
	s := &corev1.Service{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       corev1.ServiceSpec{ClusterIP: clusterIP, Ports: []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP}}}}
	if clusterIP != "" && clusterIP != corev1.ClusterIPNone {
		s.Spec.ClusterIPs = strings.Split(clusterIP, ",")
		s.Spec.ClusterIP = s.Spec.ClusterIPs[0]
	}
	if mod != nil {
		mod(s)
	}
	return s
}

func slice(ns, svc, name string, ready map[string]bool, hostnames map[string]string) *discoveryv1.EndpointSlice {
	port, pname, proto := int32(8080), "http", corev1.ProtocolTCP
	s := &discoveryv1.EndpointSlice{TypeMeta: metav1.TypeMeta{APIVersion: "discovery.k8s.io/v1", Kind: "EndpointSlice"},
		ObjectMeta:  metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: &pname, Port: &port, Protocol: &proto}}}
	addrs := make([]string, 0, len(ready))
	for a := range ready {
		addrs = append(addrs, a)
	}
	slices.Sort(addrs)
	for _, a := range addrs {
		r := ready[a]
		ep := discoveryv1.Endpoint{Addresses: []string{a}, Conditions: discoveryv1.EndpointConditions{Ready: &r}}
		if h, ok := hostnames[a]; ok {
			ep.Hostname = &h
		}
		s.Endpoints = append(s.Endpoints, ep)
	}
	return s
}

// serve runs a server over st on loopback and returns its address.
func serve(t *testing.T, st store.Store) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	srv := New(Config{Listen: "127.0.0.1:0"}, st, slog.New(slog.DiscardHandler))
	addr := make(chan string, 1)
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := srv.Run(ctx, func(udp, _ net.Addr) { addr <- udp.String() }); err != nil {
			t.Errorf("run: %v", err)
			close(addr)
		}
	})
	t.Cleanup(func() { cancel(); wg.Wait() })
	a := <-addr
	deadline := time.Now().Add(5 * time.Second)
	for !srv.Synced() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	return a
}

// query returns "RCODE" followed by the answers' data, sorted.
func query(t *testing.T, server, name string, qtype uint16, proto string) []string {
	t.Helper()
	c := &mdns.Client{Net: proto, Timeout: 2 * time.Second}
	m := new(mdns.Msg)
	m.SetQuestion(mdns.Fqdn(name), qtype)
	r, _, err := c.Exchange(m, server)
	if err != nil {
		t.Fatalf("query %s: %v", name, err)
	}
	if r.RecursionAvailable {
		t.Errorf("query %s: the server claims recursion", name)
	}
	var out []string
	for _, rr := range r.Answer {
		f := strings.Fields(rr.String())
		out = append(out, mdns.TypeToString[rr.Header().Rrtype]+" "+strings.Join(f[4:], " "))
	}
	slices.Sort(out)
	return append([]string{mdns.RcodeToString[r.Rcode]}, out...)
}

func TestServer(t *testing.T) {
	st := memory.New(0)
	defer st.Close()
	ctx := context.Background()
	objs := []model.Object{
		service("yaobank", "summary", "10.96.0.50", nil),
		service("default", "dual", "10.96.0.51,2001:db8::51", nil),
		service("default", "db", corev1.ClusterIPNone, nil),
		service("default", "ext", "", func(s *corev1.Service) {
			s.Spec.Type, s.Spec.ExternalName, s.Spec.Ports = corev1.ServiceTypeExternalName, "example.org", nil
		}),
		slice("default", "db", "db-1", map[string]bool{"10.244.0.5": true, "10.244.0.6": false, "10.244.0.7": true},
			map[string]string{"10.244.0.7": "db-0"}),
		// A second slice naming a port the service spec does not (the DNS conformance spec
		// "should provide DNS for a service with multiple EndpointSlices and no Endpoints").
		func() *discoveryv1.EndpointSlice {
			s := slice("default", "db", "db-2", map[string]bool{"10.244.0.8": true}, nil)
			https, port := "https", int32(8443)
			s.Ports[0].Name, s.Ports[0].Port = &https, &port
			return s
		}(),
	}
	for _, o := range objs {
		if _, err := st.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	addr := serve(t, st)
	tests := []struct {
		name  string
		qtype uint16
		want  []string
	}{
		{"summary.yaobank.svc.cluster.local", mdns.TypeA, []string{"NOERROR", "A 10.96.0.50"}},
		{"SUMMARY.yaobank.svc.cluster.local", mdns.TypeA, []string{"NOERROR", "A 10.96.0.50"}},
		{"summary.yaobank.svc.cluster.local", mdns.TypeAAAA, []string{"NOERROR"}},
		{"dual.default.svc.cluster.local", mdns.TypeAAAA, []string{"NOERROR", "AAAA 2001:db8::51"}},
		{"db.default.svc.cluster.local", mdns.TypeA, []string{"NOERROR", "A 10.244.0.5", "A 10.244.0.7", "A 10.244.0.8"}},
		{"db-0.db.default.svc.cluster.local", mdns.TypeA, []string{"NOERROR", "A 10.244.0.7"}},
		{"10-244-0-5.db.default.svc.cluster.local", mdns.TypeA, []string{"NOERROR", "A 10.244.0.5"}},
		{"10-244-0-6.db.default.svc.cluster.local", mdns.TypeA, []string{"NXDOMAIN"}},
		{"_http._tcp.summary.yaobank.svc.cluster.local", mdns.TypeSRV, []string{"NOERROR", "SRV 0 100 80 summary.yaobank.svc.cluster.local."}},
		{"_http._tcp.db.default.svc.cluster.local", mdns.TypeSRV, []string{"NOERROR",
			"SRV 0 100 8080 10-244-0-5.db.default.svc.cluster.local.", "SRV 0 100 8080 db-0.db.default.svc.cluster.local."}},
		{"_grpc._tcp.summary.yaobank.svc.cluster.local", mdns.TypeSRV, []string{"NXDOMAIN"}},
		{"_https._tcp.db.default.svc.cluster.local", mdns.TypeSRV, []string{"NOERROR", "SRV 0 100 8443 10-244-0-8.db.default.svc.cluster.local."}},
		{"_https._udp.db.default.svc.cluster.local", mdns.TypeSRV, []string{"NXDOMAIN"}},
		{"ext.default.svc.cluster.local", mdns.TypeA, []string{"NOERROR", "CNAME example.org."}},
		{"10-244-1-5.default.pod.cluster.local", mdns.TypeA, []string{"NOERROR", "A 10.244.1.5"}},
		{"2001-db8--5.default.pod.cluster.local", mdns.TypeAAAA, []string{"NOERROR", "AAAA 2001:db8::5"}},
		{"nope.default.pod.cluster.local", mdns.TypeA, []string{"NXDOMAIN"}},
		{"missing.yaobank.svc.cluster.local", mdns.TypeA, []string{"NXDOMAIN"}},
		{"summary.yaobank.svc.cluster.local.yaobank.svc.cluster.local", mdns.TypeA, []string{"NXDOMAIN"}},
		{"yaobank.svc.cluster.local", mdns.TypeA, []string{"NOERROR"}},
		{"example.org", mdns.TypeA, []string{"NXDOMAIN"}},
		{"50.0.96.10.in-addr.arpa", mdns.TypePTR, []string{"NOERROR", "PTR summary.yaobank.svc.cluster.local."}},
		{"1.5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa", mdns.TypePTR, []string{"NOERROR", "PTR dual.default.svc.cluster.local."}},
		{"7.0.244.10.in-addr.arpa", mdns.TypePTR, []string{"NOERROR", "PTR db-0.db.default.svc.cluster.local."}},
		{"5.0.244.10.in-addr.arpa", mdns.TypePTR, []string{"NOERROR", "PTR 10-244-0-5.db.default.svc.cluster.local."}},
		{"6.0.244.10.in-addr.arpa", mdns.TypePTR, []string{"NXDOMAIN"}}, // not ready
		{"50.0.96.10.in-addr.arpa", mdns.TypeA, []string{"NOERROR"}},
		{"1.1.1.1.in-addr.arpa", mdns.TypePTR, []string{"NXDOMAIN"}},
		{"050.0.96.10.in-addr.arpa", mdns.TypePTR, []string{"NXDOMAIN"}},
		{"0.96.10.in-addr.arpa", mdns.TypePTR, []string{"NXDOMAIN"}},
		{"cluster.local", mdns.TypeSOA, []string{"NOERROR", "SOA ns.dns.cluster.local. hostmaster.cluster.local. 1 7200 1800 86400 5"}},
	}
	for _, tt := range tests {
		for _, proto := range []string{"udp", "tcp"} {
			t.Run(proto+"/"+tt.name+"/"+mdns.TypeToString[tt.qtype], func(t *testing.T) {
				if diff := cmp.Diff(tt.want, query(t, addr, tt.name, tt.qtype, proto)); diff != "" {
					t.Errorf("(-want +got):\n%s", diff)
				}
			})
		}
	}
}

func TestServerFollowsChanges(t *testing.T) {
	st := memory.New(0)
	defer st.Close()
	ctx := context.Background()
	addr := serve(t, st)
	name := "web.default.svc.cluster.local"
	wait := func(want ...string) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		var got []string
		for time.Now().Before(deadline) {
			if got = query(t, addr, name, mdns.TypeA, "udp"); cmp.Equal(want, got) {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatalf("answer %q, want %q", got, want)
	}
	wait("NXDOMAIN")
	if _, err := st.Create(ctx, service("default", "web", corev1.ClusterIPNone, nil)); err != nil {
		t.Fatal(err)
	}
	wait("NOERROR")
	sl := slice("default", "web", "web-1", map[string]bool{"10.244.0.9": true}, nil)
	if _, err := st.Create(ctx, sl); err != nil {
		t.Fatal(err)
	}
	wait("NOERROR", "A 10.244.0.9")
	if _, err := st.Delete(ctx, model.KindEndpointSlice, "default", "web-1", store.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	wait("NOERROR")
}
