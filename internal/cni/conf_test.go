package cni

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/containernetworking/cni/pkg/types"
)

func TestNames(t *testing.T) {
	tests := []struct {
		ns, pod, cid string
		want         string
	}{
		{"web", "frontend-1", "x", "trl835c89ddfa5"}, // sha1("web.frontend-1")
		{"", "", "abc123", "trl6367c48dd19"},         // sha1("abc123"), no pod name
	}
	for _, tc := range tests {
		if got := HostVethName(tc.ns, tc.pod, tc.cid); got != tc.want {
			t.Errorf("HostVethName(%q, %q, %q) = %q, want %q", tc.ns, tc.pod, tc.cid, got, tc.want)
		}
	}
	w := workload{Namespace: "web", Pod: "frontend-1", IfName: "eth0"}
	if got := EndpointName("node-a", w); got != "node--a-k8s-frontend--1-eth0" {
		t.Errorf("EndpointName = %q", got)
	}
}

func TestParseConf(t *testing.T) {
	tests := []struct {
		name     string
		conf     string
		wantErr  string
		wantCode uint
		check    func(*NetConf) bool
	}{
		{name: "defaults", conf: `{"cniVersion":"1.1.0","name":"n","type":"trellis-cni","ipam":{"type":"trellis-ipam"}}`,
			check: func(c *NetConf) bool {
				return c.waitTimeout == DefaultPolicyWaitTimeout && c.storeTimeout == DefaultDatastoreTimeout &&
					c.agentSocket("n1") == "/run/trellis/node/n1/agent.sock" && !c.PolicyWait && c.PluginConf.IPAM.Type == "trellis-ipam"
			}},
		{name: "all fields", conf: `{"cniVersion":"1.0.0","name":"n","type":"trellis-cni","datastore_endpoints":["unix:///x"],
			"nodename":"n1","mtu":1450,"policy_wait":true,"policy_wait_timeout":"3s","ipam":{"type":"trellis-ipam",
			"ipv4_pools":["a"],"assign_ipv6":"true"}}`,
			check: func(c *NetConf) bool {
				return c.MTU == 1450 && c.PolicyWait && c.waitTimeout == 3*time.Second && c.NodeName == "n1" &&
					boolOr(c.IPAM.AssignIPv6, false) && boolOr(c.IPAM.AssignIPv4, true) && c.IPAM.IPv4Pools[0] == "a"
			}},
		{name: "kubernetes datastore", conf: `{"datastore_type":"kubernetes","kubernetes":{"kubeconfig":"/etc/cni/net.d/trellis-kubeconfig"},"policy_wait":true}`,
			check: func(c *NetConf) bool {
				return c.DatastoreType == DatastoreKube && storeConfig(c).Kubeconfig == "/etc/cni/net.d/trellis-kubeconfig"
			}},
		{name: "default datastore", conf: `{}`, check: func(c *NetConf) bool { return c.DatastoreType == DatastoreEtcd }},
		{name: "bad datastore type", conf: `{"datastore_type":"consul"}`, wantErr: "datastore_type", wantCode: types.ErrInvalidNetworkConfig},
		{name: "kubernetes without kubeconfig", conf: `{"datastore_type":"kubernetes"}`, wantErr: "kubernetes.kubeconfig", wantCode: types.ErrInvalidNetworkConfig},
		{name: "kubernetes policy wait without socket", conf: `{"datastore_type":"kubernetes","kubernetes":{"kubeconfig":"/k"},"policy_wait":true,"agent_socket":"-"}`,
			wantErr: "agent_socket", wantCode: types.ErrInvalidNetworkConfig},
		{name: "not json", conf: `{`, wantErr: "decode", wantCode: types.ErrDecodingFailure},
		{name: "bad timeout", conf: `{"policy_wait_timeout":"soon"}`, wantErr: "policy_wait_timeout", wantCode: types.ErrInvalidNetworkConfig},
		{name: "bad mtu", conf: `{"mtu":-1}`, wantErr: "mtu", wantCode: types.ErrInvalidNetworkConfig},
		{name: "bad assign", conf: `{"ipam":{"assign_ipv4":"yes please"}}`, wantErr: "assign_ipv4", wantCode: types.ErrInvalidNetworkConfig},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseConf([]byte(tc.conf))
			if tc.wantErr != "" {
				var te *types.Error
				if !errors.As(err, &te) || te.Code != tc.wantCode || !strings.Contains(te.Msg+te.Details, tc.wantErr) {
					t.Fatalf("err = %v, want code %d mentioning %q", err, tc.wantCode, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(c) {
				t.Errorf("parsed %+v", c)
			}
		})
	}
}
