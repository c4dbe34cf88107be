package service

import (
	"fmt"
	"strings"
)

// String is the state's canonical, byte-stable text form (goldens, logs).
func (s *State) String() string {
	var b strings.Builder
	for i := range s.Ports {
		s.Ports[i].write(&b)
	}
	for _, h := range s.HealthChecks {
		fmt.Fprintf(&b, "healthcheck %s/%s port %d localEndpoints %d\n", h.Namespace, h.Service, h.Port, h.LocalEndpoints)
	}
	return b.String()
}

func (p *Port) write(b *strings.Builder) {
	name := p.Name
	if name == "" {
		name = "-"
	}
	fmt.Fprintf(b, "port %s/%s %s ipv%d %s %d\n", p.Namespace, p.Service, name, p.Family, p.Protocol, p.Port)
	if p.ClusterIP.IsValid() {
		fmt.Fprintf(b, "  clusterIP %s\n", p.ClusterIP)
	}
	if p.NodePort != 0 {
		fmt.Fprintf(b, "  nodePort %d\n", p.NodePort)
	}
	for _, a := range p.ExternalIPs {
		fmt.Fprintf(b, "  externalIP %s\n", a)
	}
	for _, a := range p.LoadBalancerIPs {
		fmt.Fprintf(b, "  loadBalancerIP %s\n", a)
	}
	fmt.Fprintf(b, "  policy internal %s external %s\n", local(p.InternalLocal), local(p.ExternalLocal))
	if p.AffinitySeconds > 0 {
		fmt.Fprintf(b, "  affinity clientIP %ds\n", p.AffinitySeconds)
	}
	for _, e := range p.Cluster {
		where := "remote"
		if e.Local {
			where = "local"
		}
		node := e.Node
		if node == "" {
			node = "-"
		}
		fmt.Fprintf(b, "  endpoint %s node %s %s\n", e.AddrPort(), node, where)
	}
	for _, e := range p.Local {
		fmt.Fprintf(b, "  local %s\n", e.AddrPort())
	}
	fmt.Fprintf(b, "  internal %s", p.InternalVerdict())
	if p.External() {
		fmt.Fprintf(b, " external %s", p.ExternalVerdict())
	}
	b.WriteString("\n")
}

func local(l bool) string {
	if l {
		return "Local"
	}
	return "Cluster"
}
