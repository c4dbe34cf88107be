package nft

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

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
	// Host-side veths are named eth*, so for the renderer (prefix trl) they are host
	// interfaces, not workloads.
	n := testnet.New(t, testnet.Config{Pods: 2, IfPrefix: "eth"})
	ctx := context.Background()
	ap := NewApplier(kernelTable(t, n.Host, "trl-hep"))
	if _, err := ap.Apply(ctx, Render(Config{}, hostState(n.Pods[0].HostIf))); err != nil {
		t.Fatal(err)
	}
	for _, port := range []int{22, portHTTP, portOther, 7003} {
		testnet.Serve(t, n.Host, port)
	}
	host := testnet.GatewayV4
	var wg sync.WaitGroup
	for _, tc := range []struct {
		pod   int
		proto string
		port  int
		want  bool
	}{
		{0, "tcp", portHTTP, true},
		{0, "tcp", portOther, false}, // end of tier
		{0, "tcp", 22, true},         // failsafe
		{0, "tcp", 7003, false},      // preDNAT deny
		{0, "udp", portHTTP, false},  // doNotTrack deny
		{0, "udp", portOther, false}, // normal policy allows only TCP
		{1, "tcp", portOther, true},  // not a host endpoint
		{1, "udp", portHTTP, true},
	} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			timeout := 2 * time.Second
			if !tc.want {
				timeout = 400 * time.Millisecond
			}
			err := testnet.Probe(n.Pods[tc.pod].NS, tc.proto, host, tc.port, timeout)
			if got := err == nil; got != tc.want {
				t.Errorf("%s: allowed=%v, want %v (%v)", fmt.Sprintf("pod%d->host %s/%d", tc.pod, tc.proto, tc.port), got, tc.want, err)
			}
		}()
	}
	wg.Wait()
}
