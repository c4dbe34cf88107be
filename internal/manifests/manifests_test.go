package manifests

import (
	"bytes"
	"flag"
	"net/netip"
	"os"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"

	"github.com/trellisnet/trellis/deploy/crds"
	"github.com/trellisnet/trellis/internal/model"
)

var update = flag.Bool("update", false, "rewrite deploy/trellis.yaml (make manifests)")

const checkedIn = "../../deploy/trellis.yaml"

// deploy/trellis.yaml is `trellis manifests` with the defaults.
func TestCheckedIn(t *testing.T) {
	got, err := Render(Defaults())
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(checkedIn, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(checkedIn)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from `trellis manifests`: run make manifests", checkedIn)
	}
	again, _ := Render(Defaults())
	if !bytes.Equal(got, again) {
		t.Error("two renderings differ")
	}
}

// documentsOf splits a YAML stream into its documents (comments and all).
func documentsOf(b []byte) []string {
	var out []string
	for _, d := range strings.Split(string(b), "\n---\n") {
		if strings.TrimSpace(stripComments(d)) != "" {
			out = append(out, d)
		}
	}
	return out
}

func stripComments(d string) string {
	var keep []string
	for _, l := range strings.Split(d, "\n") {
		if !strings.HasPrefix(l, "#") && l != "---" {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

// Every document decodes strictly into its type: no field the API server would drop.
func TestDocumentsDecodeStrictly(t *testing.T) {
	for _, o := range []Options{Defaults(), func() Options {
		o := Defaults()
		o.Routing, o.APIServer = RoutingVXLAN, "192.0.2.10:6443"
		return o
	}()} {
		out, err := Render(o)
		if err != nil {
			t.Fatal(err)
		}
		kinds := map[string]int{}
		for _, d := range documentsOf(out) {
			var head struct{ APIVersion, Kind string }
			if err := yaml.Unmarshal([]byte(d), &head); err != nil {
				t.Fatalf("document does not parse: %v\n%s", err, d)
			}
			kinds[head.Kind]++
			var target any
			switch head.Kind {
			case "Namespace":
				target = &corev1.Namespace{}
			case "ServiceAccount":
				target = &corev1.ServiceAccount{}
			case "ConfigMap":
				target = &corev1.ConfigMap{}
			case "Service":
				target = &corev1.Service{}
			case "ClusterRole":
				target = &rbacv1.ClusterRole{}
			case "ClusterRoleBinding":
				target = &rbacv1.ClusterRoleBinding{}
			case "Role":
				target = &rbacv1.Role{}
			case "RoleBinding":
				target = &rbacv1.RoleBinding{}
			case "DaemonSet":
				target = &appsv1.DaemonSet{}
			case "Deployment":
				target = &appsv1.Deployment{}
			case "ValidatingWebhookConfiguration":
				target = &admissionv1.ValidatingWebhookConfiguration{}
			case "MutatingWebhookConfiguration":
				target = &admissionv1.MutatingWebhookConfiguration{}
			case "CustomResourceDefinition":
				continue // deploy/crds has its own tests, against the API server's validation
			default:
				if head.APIVersion != model.APIVersionCalico {
					t.Fatalf("unexpected document %s %s", head.APIVersion, head.Kind)
				}
				docs, err := model.Decode([]byte(d), head.Kind)
				if err != nil {
					t.Fatalf("%s: %v", head.Kind, err)
				}
				for _, doc := range docs {
					if ps := model.Validate(doc.Object); len(ps) > 0 {
						t.Errorf("%s: %v", head.Kind, ps)
					}
				}
				continue
			}
			if err := yaml.UnmarshalStrict([]byte(d), target); err != nil {
				t.Errorf("%s does not decode strictly: %v", head.Kind, err)
			}
		}
		for kind, n := range map[string]int{"CustomResourceDefinition": len(crdFiles(t)), "DaemonSet": 1, "Deployment": 3, "IPPool": 1,
			"ValidatingWebhookConfiguration": 1, "MutatingWebhookConfiguration": 1, "ClusterRole": 5, "ServiceAccount": 5} {
			if kinds[kind] != n {
				t.Errorf("%d %s documents, want %d", kinds[kind], kind, n)
			}
		}
		if o.APIServer != "" && kinds["ConfigMap"] != 1 {
			t.Errorf("--api-server: no ConfigMap %s", APIEndpointsConfig)
		}
	}
}

func TestVXLANPool(t *testing.T) {
	o := Defaults()
	o.Routing = RoutingVXLAN
	out, err := Render(o)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "vxlanMode: Always") {
		t.Error("--routing vxlan: the default pool is not vxlanMode Always")
	}
}

func TestOptionsValidate(t *testing.T) {
	for name, change := range map[string]func(*Options){
		"empty image":         func(o *Options) { o.Image = "" },
		"pull policy":         func(o *Options) { o.PullPolicy = "Sometimes" },
		"routing":             func(o *Options) { o.Routing = "ipip" },
		"dns outside":         func(o *Options) { o.DNSIP = netip.MustParseAddr("192.0.2.10") },
		"pools overlap":       func(o *Options) { o.PodCIDR = netip.MustParsePrefix("10.96.0.0/16") },
		"pool too small":      func(o *Options) { o.PodCIDR = netip.MustParsePrefix("10.244.0.0/28") },
		"pool not a network":  func(o *Options) { o.PodCIDR = netip.MustParsePrefix("10.244.0.1/16") },
		"api server no port":  func(o *Options) { o.APIServer = "192.0.2.1" },
		"api server bad port": func(o *Options) { o.APIServer = "192.0.2.1:0" },
	} {
		t.Run(name, func(t *testing.T) {
			o := Defaults()
			change(&o)
			if _, err := Render(o); err == nil {
				t.Error("accepted")
			}
		})
	}
}

func crdFiles(t *testing.T) []string {
	files, err := crds.Files()
	if err != nil {
		t.Fatal(err)
	}
	return files
}
