package crdgen

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"
)

const root = "../.."

// TestCheckedIn regenerates the CRDs in memory and compares them with deploy/crds.
func TestCheckedIn(t *testing.T) {
	files, err := Generate(root)
	if err != nil {
		t.Fatalf("generate: %v", err)
	}
	want := map[string]bool{}
	for _, f := range files {
		want[f.Name] = true
		got, err := os.ReadFile(filepath.Join(root, Dir, f.Name))
		if err != nil {
			t.Errorf("%s/%s is missing; regenerate with: %s", Dir, f.Name, UpdateCommand)
			continue
		}
		if !bytes.Equal(got, f.Data) {
			t.Errorf("%s/%s is stale; regenerate with: %s\n%s", Dir, f.Name, UpdateCommand,
				cmp.Diff(string(got), string(f.Data)))
		}
	}
	old, err := filepath.Glob(filepath.Join(root, Dir, "*_*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range old {
		if !want[filepath.Base(p)] {
			t.Errorf("%s is not generated any more; regenerate with: %s", p, UpdateCommand)
		}
	}
}

// TestDeterministic: two runs give the same bytes.
func TestDeterministic(t *testing.T) {
	a, err := Generate(root)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Generate(root)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(a, b); diff != "" {
		t.Errorf("two generations differ:\n%s", diff)
	}
}

// TestKinds: the generator covers Calico's kinds and the IPAM kinds, and no Kubernetes kind.
func TestKinds(t *testing.T) {
	got := map[string]bool{}
	for _, k := range Kinds() {
		got[k.Group+"/"+k.Kind] = true
	}
	for _, want := range []string{"projectcalico.org/GlobalNetworkPolicy", "projectcalico.org/IPPool",
		"projectcalico.org/Node", "ipam.trellis.dev/IPAMBlock", "trellis.dev/EndpointStatus"} {
		if !got[want] {
			t.Errorf("Kinds() lacks %s", want)
		}
	}
	for _, not := range []string{"/Node", "/Pod", "networking.k8s.io/NetworkPolicy"} {
		if got[not] {
			t.Errorf("Kinds() has the Kubernetes kind %s", not)
		}
	}
}

// TestDescribed: every field of every CRD generated from internal/model has a description
// (a doc comment there), so that kubectl explain is useful everywhere.
func TestDescribed(t *testing.T) {
	files, err := Generate(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		var def apiextensionsv1.CustomResourceDefinition
		if err := yaml.Unmarshal(f.Data, &def); err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		if _, upstream := upstreamBundle[def.Spec.Group]; upstream {
			continue // documented by its own project's types
		}
		for _, path := range undescribed(def.Spec.Versions[0].Schema.OpenAPIV3Schema, "") {
			t.Errorf("%s: %s has no description: give the Go field a doc comment", f.Name, path)
		}
	}
}

func undescribed(s *apiextensionsv1.JSONSchemaProps, path string) []string {
	if s == nil {
		return nil
	}
	var out []string
	for name, p := range s.Properties {
		if name == "metadata" && path == "" {
			continue
		}
		if p.Description == "" {
			out = append(out, path+"."+name)
		}
		out = append(out, undescribed(&p, path+"."+name)...)
	}
	if s.Items != nil {
		out = append(out, undescribed(s.Items.Schema, path+"[]")...)
	}
	if s.AdditionalProperties != nil {
		out = append(out, undescribed(s.AdditionalProperties.Schema, path+"{}")...)
	}
	return out
}
