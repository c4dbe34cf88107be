package crds

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/trellisnet/trellis/internal/model"
	"sigs.k8s.io/yaml"
)

// crd is the part of a CustomResourceDefinition these tests read.
type crd struct {
	Kind     string `json:"kind"`
	Metadata struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		Group string `json:"group"`
		Names struct {
			Kind       string   `json:"kind"`
			Plural     string   `json:"plural"`
			ShortNames []string `json:"shortNames"`
			Categories []string `json:"categories"`
		} `json:"names"`
		Scope    string `json:"scope"`
		Versions []struct {
			Name    string `json:"name"`
			Served  bool   `json:"served"`
			Storage bool   `json:"storage"`
			Columns []struct {
				Name string `json:"name"`
			} `json:"additionalPrinterColumns"`
		} `json:"versions"`
	} `json:"spec"`
}

// modelKinds are the registered kinds whose Go types internal/model declares: the kinds a
// Kubernetes API server does not serve itself.
func modelKinds() []*model.Kind {
	pkg := reflect.TypeFor[model.IPPool]().PkgPath()
	var out []*model.Kind
	for _, k := range model.Default.Kinds() {
		if reflect.TypeOf(k.New()).Elem().PkgPath() == pkg {
			out = append(out, k)
		}
	}
	return out
}

func readCRD(t *testing.T, name string) crd {
	t.Helper()
	b, err := FS.ReadFile(name)
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	var c crd
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatalf("parse %s: %v", name, err)
	}
	return c
}

// TestEveryKindHasCRD: each Calico and Trellis kind of the registry has one CRD, with the
// registry's group, version, plural and scope, and no CRD is left without a kind.
func TestEveryKindHasCRD(t *testing.T) {
	files, err := Files()
	if err != nil {
		t.Fatal(err)
	}
	kinds := modelKinds()
	if len(kinds) == 0 {
		t.Fatal("no kinds declared in internal/model")
	}
	want := map[string]bool{}
	for _, k := range kinds {
		name := FileName(k.Group, k.Plural)
		want[name] = true
		if !slices.Contains(files, name) {
			t.Errorf("kind %s (%s) has no CRD %s; run: make crds", k.Kind, k.APIVersion(), name)
			continue
		}
		c := readCRD(t, name)
		scope := "Cluster"
		if k.Namespaced {
			scope = "Namespaced"
		}
		if c.Kind != "CustomResourceDefinition" || c.Metadata.Name != k.Plural+"."+k.Group ||
			c.Spec.Group != k.Group || c.Spec.Names.Kind != k.Kind || c.Spec.Names.Plural != k.Plural ||
			c.Spec.Scope != scope {
			t.Errorf("%s: got %s %s group %s kind %s plural %s scope %s, want registry's %s %s %s %s",
				name, c.Kind, c.Metadata.Name, c.Spec.Group, c.Spec.Names.Kind, c.Spec.Names.Plural,
				c.Spec.Scope, k.Group, k.Kind, k.Plural, scope)
		}
		if len(c.Spec.Versions) != 1 || c.Spec.Versions[0].Name != k.Version ||
			!c.Spec.Versions[0].Served || !c.Spec.Versions[0].Storage {
			t.Errorf("%s: want one served storage version %s", name, k.Version)
		}
		cat := "trellis"
		if k.Group == model.GroupCalico {
			cat = "calico"
		}
		if !slices.Contains(c.Spec.Names.Categories, cat) {
			t.Errorf("%s: categories %v lack %q", name, c.Spec.Names.Categories, cat)
		}
	}
	// Kinds of other projects' APIs (ClusterNetworkPolicy) have their CRD generated from
	// those projects' types, with their versions and categories.
	for _, k := range model.Default.Kinds() {
		if !k.UpstreamCRD {
			continue
		}
		name := FileName(k.Group, k.Plural)
		want[name] = true
		if !slices.Contains(files, name) {
			t.Errorf("kind %s (%s) has no CRD %s; run: make crds", k.Kind, k.APIVersion(), name)
		} else if c := readCRD(t, name); c.Spec.Names.Kind != k.Kind || c.Spec.Group != k.Group {
			t.Errorf("%s: kind %s group %s, want %s %s", name, c.Spec.Names.Kind, c.Spec.Group, k.Kind, k.Group)
		}
	}
	for _, f := range files {
		if !want[f] {
			t.Errorf("CRD %s belongs to no registered kind; run: make crds", f)
		}
	}
}

// TestShortNamesUnique: no short name is claimed twice, and none shadows a short name of a
// built-in Kubernetes resource (kubectl would resolve it to the built-in one).
func TestShortNamesUnique(t *testing.T) {
	builtin := map[string]bool{"no": true, "po": true, "svc": true, "ns": true, "netpol": true,
		"ep": true, "sa": true, "cm": true, "pv": true, "pvc": true, "rs": true, "ds": true,
		"deploy": true, "sts": true, "ing": true, "pdb": true, "hpa": true, "crd": true, "csr": true,
		"limits": true, "quota": true, "rc": true, "ev": true, "cs": true, "pc": true, "sc": true}
	seen := map[string]string{}
	files, err := Files()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		c := readCRD(t, f)
		for _, s := range c.Spec.Names.ShortNames {
			if builtin[s] {
				t.Errorf("%s: short name %q is a built-in Kubernetes one", f, s)
			}
			if prev, ok := seen[s]; ok {
				t.Errorf("short name %q claimed by %s and %s", s, prev, f)
			}
			seen[s] = f
			if s != strings.ToLower(s) {
				t.Errorf("%s: short name %q must be lower-case", f, s)
			}
		}
	}
}
