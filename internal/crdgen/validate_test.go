package crdgen

import (
	"context"
	"testing"

	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsinstall "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/install"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"
)

// TestValid runs the API server's own CRD validation (k8s.io/apiextensions-apiserver
// v0.37.1) on every generated CRD: structural schemas, CEL rules that compile and fit the
// cost budget, valid names and printer columns. The kube-apiserver test in deploy/crds
// checks the same by installing them; this one needs no binaries.
func TestValid(t *testing.T) {
	files, err := Generate(root)
	if err != nil {
		t.Fatal(err)
	}
	scheme := runtime.NewScheme()
	apiextensionsinstall.Install(scheme)
	for _, f := range files {
		var v1 apiextensionsv1.CustomResourceDefinition
		if err := yaml.UnmarshalStrict(f.Data, &v1); err != nil {
			t.Errorf("%s: %v", f.Name, err)
			continue
		}
		scheme.Default(&v1)
		var internal apiextensions.CustomResourceDefinition
		if err := scheme.Convert(&v1, &internal, nil); err != nil {
			t.Errorf("%s: convert: %v", f.Name, err)
			continue
		}
		for _, e := range validation.ValidateCustomResourceDefinition(context.Background(), &internal) {
			t.Errorf("%s: %v", f.Name, e)
		}
	}
}
