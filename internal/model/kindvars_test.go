package model

import (
	"go/ast"
	"go/parser"
	"go/token"
	"slices"
	"strings"
	"testing"
)

// kindVars is every kind variable by name. TestKindVariables checks it against both the
// declarations in kindvars.go and the registry, so none of the three can drift.
var kindVars = map[string]*Kind{
	"KindNetworkPolicy":                 KindNetworkPolicy,
	"KindGlobalNetworkPolicy":           KindGlobalNetworkPolicy,
	"KindStagedNetworkPolicy":           KindStagedNetworkPolicy,
	"KindStagedGlobalNetworkPolicy":     KindStagedGlobalNetworkPolicy,
	"KindTier":                          KindTier,
	"KindNetworkSet":                    KindNetworkSet,
	"KindGlobalNetworkSet":              KindGlobalNetworkSet,
	"KindHostEndpoint":                  KindHostEndpoint,
	"KindWorkloadEndpoint":              KindWorkloadEndpoint,
	"KindProfile":                       KindProfile,
	"KindIPPool":                        KindIPPool,
	"KindIPReservation":                 KindIPReservation,
	"KindIPAMConfiguration":             KindIPAMConfiguration,
	"KindBGPConfiguration":              KindBGPConfiguration,
	"KindBGPPeer":                       KindBGPPeer,
	"KindBGPFilter":                     KindBGPFilter,
	"KindNode":                          KindNode,
	"KindFelixConfiguration":            KindFelixConfiguration,
	"KindStagedKubernetesNetworkPolicy": KindStagedKubernetesNetworkPolicy,
	"KindKubeControllersConfiguration":  KindKubeControllersConfiguration,
	"KindClusterInformation":            KindClusterInformation,
	"KindNamespace":                     KindNamespace,
	"KindPod":                           KindPod,
	"KindServiceAccount":                KindServiceAccount,
	"KindService":                       KindService,
	"KindK8sNode":                       KindK8sNode,
	"KindEndpointSlice":                 KindEndpointSlice,
	"KindK8sNetworkPolicy":              KindK8sNetworkPolicy,
	"KindClusterNetworkPolicy":          KindClusterNetworkPolicy,
	"KindIPAMBlock":                     KindIPAMBlock,
	"KindBlockAffinity":                 KindBlockAffinity,
	"KindIPAMHandle":                    KindIPAMHandle,
	"KindEndpointStatus":                KindEndpointStatus,
}

// declaredKindVars lists the exported Kind* variables declared in kindvars.go.
func declaredKindVars(t *testing.T) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "kindvars.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.VAR {
			continue
		}
		for _, s := range g.Specs {
			for _, n := range s.(*ast.ValueSpec).Names {
				if n.IsExported() && strings.HasPrefix(n.Name, "Kind") {
					out = append(out, n.Name)
				}
			}
		}
	}
	return out
}

// TestKindVariables: every registered kind has exactly one variable, named after the kind
// (K8s in front for the Kubernetes kinds whose names Calico uses too), and every variable
// is a registered kind.
func TestKindVariables(t *testing.T) {
	declared := declaredKindVars(t)
	for _, name := range declared {
		if _, ok := kindVars[name]; !ok {
			t.Errorf("%s is declared in kindvars.go but missing from kindVars in this test", name)
		}
	}
	byKind := map[*Kind]string{}
	for name, k := range kindVars {
		if !slices.Contains(declared, name) {
			t.Errorf("%s is in kindVars but not declared in kindvars.go", name)
		}
		if prev, dup := byKind[k]; dup {
			t.Errorf("%s and %s are the same kind %s", prev, name, k.Resource())
		}
		byKind[k] = name
		want := "Kind" + k.Kind
		if k.Group != GroupCalico && k.Group != GroupIPAM && k.Group != GroupTrellis && calicoKindNamed(k.Kind) {
			want = "KindK8s" + k.Kind
		}
		if name != want {
			t.Errorf("variable of %s %s is %s, want %s", k.APIVersion(), k.Kind, name, want)
		}
	}
	for _, k := range Default.Kinds() {
		if _, ok := byKind[k]; !ok {
			t.Errorf("registered kind %s %s has no variable in kindvars.go", k.APIVersion(), k.Kind)
		}
	}
	if len(byKind) != len(Default.Kinds()) {
		t.Errorf("%d kind variables, %d registered kinds", len(byKind), len(Default.Kinds()))
	}
}

func calicoKindNamed(kind string) bool {
	_, ok := Default.Lookup(APIVersionCalico, kind)
	return ok
}
