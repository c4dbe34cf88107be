package model

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestUnusedFieldWarnings: fields Trellis accepts but does not implement are warnings of the
// decoded document, with the FelixConfiguration wording, field path and line; values that
// are Trellis's behaviour anyway are not.
func TestUnusedFieldWarnings(t *testing.T) {
	for _, tc := range []struct {
		name, doc string
		want      []string
	}{
		{"ipip", "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: p}\nspec:\n  cidr: 192.0.2.0/24\n  ipipMode: CrossSubnet\n",
			[]string{"f: document 1 (IPPool/p): spec.ipipMode: ignored: Trellis does not use this field (kept as given): Trellis has no IPIP dataplane; use vxlanMode or no encapsulation (line 6)"}},
		{"natOutgoing is used", "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: p}\nspec: {cidr: 192.0.2.0/24, natOutgoing: true}\n", nil},
		{"ipip never", "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: p}\nspec: {cidr: 192.0.2.0/24, ipipMode: Never, vxlanMode: Always}\n", nil},
		{"bgp", "apiVersion: projectcalico.org/v3\nkind: BGPConfiguration\nmetadata: {name: default}\nspec:\n  bindMode: NodeIP\n" +
			"  communities: [{name: c, value: '65001:10'}]\n  prefixAdvertisements: [{cidr: 192.0.2.0/24, communities: [c]}]\n",
			[]string{
				"f: document 1 (BGPConfiguration/default): spec.bindMode: ignored: Trellis does not use this field (kept as given) (line 5)",
				"f: document 1 (BGPConfiguration/default): spec.communities: ignored: Trellis does not use this field (kept as given): Trellis's BGP speaker attaches no communities (line 6)",
				"f: document 1 (BGPConfiguration/default): spec.prefixAdvertisements: ignored: Trellis does not use this field (kept as given): Trellis's BGP speaker attaches no communities (line 7)",
			}},
		{"kcc", "apiVersion: projectcalico.org/v3\nkind: KubeControllersConfiguration\nmetadata: {name: default}\nspec:\n  healthChecks: Enabled\n",
			[]string{"f: document 1 (KubeControllersConfiguration/default): spec.healthChecks: ignored: Trellis does not use this field (kept as given): KubeControllersConfiguration is accepted and stored but not used by Trellis (line 5)"}},
		{"clusterinfo empty", "apiVersion: projectcalico.org/v3\nkind: ClusterInformation\nmetadata: {name: default}\n",
			[]string{"f: document 1 (ClusterInformation/default): spec: ignored: Trellis does not use this field (kept as given): ClusterInformation is accepted and stored but not used by Trellis (line 1)"}},
		{"staged k8s policy is used", "apiVersion: projectcalico.org/v3\nkind: StagedKubernetesNetworkPolicy\nmetadata: {name: s, namespace: default}\nspec: {podSelector: {}}\n", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			docs, err := Decode([]byte(tc.doc), "f")
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, w := range docs[0].Warnings {
				got = append(got, w.String())
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
		})
	}
}

// TestUnusedFieldsMessage: the text every ignored field shares.
func TestUnusedFieldsMessage(t *testing.T) {
	if got := (UnusedField{Path: "spec.x"}).Message(); got != "spec.x: ignored: Trellis does not use this field (kept as given)" {
		t.Errorf("Message = %q", got)
	}
	if got := (UnusedField{Path: "spec.x", Reason: "why"}).Message(); !strings.HasSuffix(got, "(kept as given): why") {
		t.Errorf("Message = %q", got)
	}
}
