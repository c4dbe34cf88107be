package nft

import (
	"context"
	"net/netip"
	"testing"

	"github.com/trellisnet/trellis/internal/policy"
	"github.com/trellisnet/trellis/internal/testnet"
)

// hostState protects the host interface hostIf: normal ingress allows TCP 7001 and 7003
// (end of tier denies the rest), failsafe keeps TCP 22 open, preDNAT denies TCP 7003,
// doNotTrack denies UDP 7001.
func hostState(hostIf string) *policy.State {
	ports := func(ps ...uint16) []policy.PortRange {
		var out []policy.PortRange
		for _, p := range ps {
			out = append(out, policy.PortRange{First: p, Last: p})
		}
		return out
	}
	tier := func(id string) []policy.TierChain {
		return []policy.TierChain{{Name: "default", End: policy.ActionDeny, Policies: []policy.PolicyID{pid(id)}}}
	}
	return sortState(&policy.State{
		Endpoints: []policy.Endpoint{{Kind: policy.KindHost, Name: "hep0", Interface: hostIf,
			Ingress:          policy.Chain{Tiers: tier("allow-web"), Final: policy.ActionDeny},
			Egress:           policy.Chain{Final: policy.ActionAllow},
			PreDNATIngress:   &policy.Chain{Tiers: []policy.TierChain{{Name: "default", End: policy.ActionPass, Policies: []policy.PolicyID{pid("prednat")}}}, Final: policy.ActionNone},
			UntrackedIngress: &policy.Chain{Tiers: []policy.TierChain{{Name: "default", End: policy.ActionPass, Policies: []policy.PolicyID{pid("untracked")}}}, Final: policy.ActionNone},
		}},
		Policies: []policy.Policy{
			{ID: pid("allow-web"), Ingress: []policy.Rule{{Action: policy.ActionAllow, Protocol: "tcp", Destination: policy.Match{Ports: ports(portHTTP, 7003)}}}},
			{ID: pid("prednat"), Ingress: []policy.Rule{{Action: policy.ActionDeny, Protocol: "tcp", Destination: policy.Match{Ports: ports(7003)}}}},
			{ID: pid("untracked"), Ingress: []policy.Rule{{Action: policy.ActionDeny, Protocol: "udp", Destination: policy.Match{Ports: ports(portHTTP)}}}},
		},
		Failsafe: policy.Failsafe{Inbound: []policy.ProtoPort{{Proto: "tcp", Port: 22}}, Outbound: []policy.ProtoPort{{Proto: "udp", Port: 53}}},
	})
}

func TestKernelHostEndpoint(t *testing.T) {
	rows := loadConnTable(t, "hostendpoint.table")
	// Host-side veths are named eth*, so for the renderer (prefix trl) they are host
	// interfaces, not workloads.
	n := testnet.New(t, testnet.Config{Pods: 2, IfPrefix: "eth"})
	ctx := context.Background()
	ap := NewApplier(kernelTable(t, n.Host, "trl-hep"))
	if _, err := ap.Apply(ctx, Render(Config{}, hostState(n.Pods[0].HostIf))); err != nil {
		t.Fatal(err)
	}
	ports := map[int]bool{}
	for _, r := range rows {
		ports[r.port] = true
	}
	for port := range ports {
		testnet.Serve(t, n.Host, port)
	}
	pods := map[string]*testnet.Pod{"pod0": n.Pods[0], "pod1": n.Pods[1]}
	probeRows(t, rows, func(r connRow) (string, netip.Addr) {
		if pods[r.src] == nil || r.dst != "host" || r.v6 {
			t.Fatalf("row %s: only IPv4 probes from pod0 or pod1 to host are supported", r)
		}
		return pods[r.src].NS, testnet.GatewayV4
	})
}
