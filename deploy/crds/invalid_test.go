package crds_test

import (
	"strings"
	"testing"

	"github.com/trellisnet/trellis/internal/kube/kubetest"
)

const gnpHead = `apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: t
spec:
  selector: all()
`

// schemaCases are objects the CRD schemas must refuse (want: substrings of the error, the
// field path first) or accept (want empty).
var schemaCases = []struct {
	name, yaml string
	want       []string
}{
	{"bad cidr", `apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: t}
spec: {cidr: 192.0.2.0/33}
`, []string{"spec.cidr", "must be a CIDR"}},
	{"block size out of range for ipv4", `apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: t}
spec: {cidr: 198.51.100.0/24, blockSize: 40}
`, []string{"spec.blockSize", "20-32"}},
	{"bad encap enum", `apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: t}
spec: {cidr: 198.51.100.0/24, vxlanMode: Sometimes}
`, []string{"spec.vxlanMode", `Unsupported value: "Sometimes"`}},
	{"reversed port range", gnpHead + `  ingress:
  - action: Allow
    protocol: TCP
    destination: {ports: ["2000:1000"]}
`, []string{"spec.ingress[0].destination.ports[0]", "min <= max"}},
	{"port number too big", gnpHead + `  ingress:
  - action: Allow
    protocol: TCP
    destination: {ports: [70000]}
`, []string{"spec.ingress[0].destination.ports[0]", "0-65535"}},
	{"bad action enum", gnpHead + `  egress:
  - action: Maybe
`, []string{"spec.egress[0].action", `Unsupported value: "Maybe"`}},
	{"bad protocol", gnpHead + `  ingress:
  - action: Allow
    protocol: TCPX
`, []string{"spec.ingress[0].protocol", `Invalid value: "TCPX"`}},
	{"bad net", gnpHead + `  ingress:
  - action: Deny
    source: {nets: [192.0.2.0/24, not-a-net]}
`, []string{"spec.ingress[0].source.nets[1]", "must be of type cidr"}},
	{"icmp code without type", gnpHead + `  ingress:
  - action: Allow
    protocol: ICMP
    icmp: {code: 3}
`, []string{"spec.ingress[0].icmp", "code requires type"}},
	{"ports without protocol", gnpHead + `  ingress:
  - action: Allow
    destination: {ports: [80]}
`, []string{"spec.ingress[0].protocol", "must set protocol to TCP, UDP or SCTP"}},
	{"ports with icmp", gnpHead + `  egress:
  - action: Allow
    protocol: ICMP
    source: {notPorts: [80]}
`, []string{"spec.egress[0].protocol", "must set protocol to TCP, UDP or SCTP"}},
	{"icmp fields with tcp", gnpHead + `  ingress:
  - action: Allow
    protocol: TCP
    icmp: {type: 8}
`, []string{"spec.ingress[0].icmp", "must set protocol to ICMP or ICMPv6"}},
	{"bgpfilter prefix length reversed", `apiVersion: projectcalico.org/v3
kind: BGPFilter
metadata: {name: t}
spec:
  exportV4:
  - {action: Accept, cidr: 203.0.113.0/24, matchOperator: In, prefixLength: {min: 28, max: 26}}
`, []string{"spec.exportV4[0].prefixLength", "min must not exceed max"}},
	{"valid ports, protocols and nets", gnpHead + `  order: 10.5
  ingress:
  - action: Allow
    protocol: TCP
    source: {nets: [192.0.2.0/24, 198.51.100.7]}
    destination: {ports: [80, "1000:2000", http, "443"]}
  - action: Allow
    protocol: 17
    destination: {ports: [53]}
  - action: Allow
    protocol: 58
    icmp: {type: 128}
  - action: Allow
    protocol: ICMP
    icmp: {type: 8, code: 0}
`, nil},
	{"valid ipv6 pool", `apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: t6}
spec: {cidr: "2001:db8:1::/64", blockSize: 122, vxlanMode: CrossSubnet, natOutgoing: true}
`, nil},
}

func refuseInvalid(t *testing.T, c *kubetest.Cluster) {
	for _, tc := range schemaCases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := c.Kubectl(tc.yaml, "create", "--dry-run=server", "-f", "-")
			if tc.want == nil {
				if err != nil {
					t.Errorf("refused a valid object: %v\n%s", err, out)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted an invalid object:\n%s", tc.yaml)
			}
			t.Logf("refused: %v", err)
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}
