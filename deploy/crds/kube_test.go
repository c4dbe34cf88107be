package crds_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/trellisnet/trellis/internal/kube/kubetest"
	"github.com/trellisnet/trellis/internal/model"
)

// TestKubeAPIServer installs the CRDs into a real kube-apiserver and uses them through
// kubectl as a user would: the documented examples apply, get prints the printer columns,
// explain shows the field docs, and schema-invalid objects are refused with a field path.
func TestKubeAPIServer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts kube-apiserver; skipped with -short")
	}
	c := kubetest.Start(t)
	installCRDs(t, c)
	t.Run("examples", func(t *testing.T) { applyExamples(t, c) })
	t.Run("get", func(t *testing.T) { getColumns(t, c) })
	t.Run("defaults", func(t *testing.T) { defaults(t, c) })
	t.Run("roundtrip", func(t *testing.T) { roundTrip(t, c) })
	t.Run("explain", func(t *testing.T) { explain(t, c) })
	t.Run("invalid", func(t *testing.T) { refuseInvalid(t, c) })
}

func installCRDs(t *testing.T, c *kubetest.Cluster) { c.InstallCRDs(t) }

// applyExamples applies every manifest of examples/ (the docs/labs walkthroughs' files).
// Files may use namespaces another file of their walkthrough creates, so files refused are
// retried after the others, until a pass makes no progress.
func applyExamples(t *testing.T, c *kubetest.Cluster) {
	var files []string
	err := filepath.WalkDir("../../examples", func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".yaml") {
			files = append(files, p)
		}
		return err
	})
	if err != nil || len(files) == 0 {
		t.Fatalf("list examples: %v (%d files)", err, len(files))
	}
	slices.Sort(files)
	errs := map[string]error{}
	for pending := files; len(pending) > 0; {
		var refused []string
		for _, f := range pending {
			if _, err := c.Kubectl("", "apply", "-f", f); err != nil {
				refused = append(refused, f)
				errs[f] = err
			}
		}
		if len(refused) == len(pending) {
			for _, f := range refused {
				t.Errorf("apply %s: %v", f, errs[f])
			}
			return
		}
		pending = refused
	}
	t.Logf("applied %d example files", len(files))
}

func getColumns(t *testing.T, c *kubetest.Cluster) {
	out, err := c.Kubectl("", "get", "gnp,ippool")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("kubectl get gnp,ippool:\n%s", out)
	for _, col := range []string{"ORDER", "TIER", "SELECTOR", "CIDR", "BLOCKSIZE", "NAT", "VXLAN", "AGE"} {
		if !strings.Contains(out, col) {
			t.Errorf("kubectl get gnp,ippool lacks column %s:\n%s", col, out)
		}
	}
	if !strings.Contains(out, "globalnetworkpolicy.projectcalico.org/") ||
		!strings.Contains(out, "ippool.projectcalico.org/") {
		t.Errorf("kubectl get gnp,ippool lists no objects:\n%s", out)
	}
	out, err = c.Kubectl("", "get", "calico", "-A")
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{"tier.projectcalico.org/security", "networkpolicy.projectcalico.org/", "bgppeer.projectcalico.org/"} {
		if !strings.Contains(out, kind) {
			t.Errorf("kubectl get calico -A lacks %s:\n%s", kind, out)
		}
	}
}

// defaults: the schema defaults are Trellis's SetDefaults where they do not depend on other
// fields (tier, encapsulation modes, allowed uses, assignment mode).
func defaults(t *testing.T, c *kubetest.Cluster) {
	for _, tc := range []struct{ obj, path, want string }{
		{"gnp/default-app-policy", "{.spec.tier}", "default"},
		{"ippool/default-ipv4-ippool", "{.spec.vxlanMode} {.spec.ipipMode}", "Never Never"},
		{"ippool/default-ipv4-ippool", "{.spec.allowedUses} {.spec.assignmentMode}", `["Workload","Tunnel"] Automatic`},
	} {
		out, err := c.Kubectl("", "get", tc.obj, "-o", "jsonpath="+tc.path)
		if err != nil {
			t.Errorf("get %s: %v", tc.obj, err)
			continue
		}
		if out != tc.want {
			t.Errorf("%s %s = %q, want %q", tc.obj, tc.path, out, tc.want)
		}
	}
}

// roundTrip reads every stored Calico object back as the API server serves it (defaults,
// metadata and all) and requires Trellis's strict decoder and validator to accept it: what
// a Kubernetes datastore would hand to the rest of Trellis.
func roundTrip(t *testing.T, c *kubetest.Cluster) {
	n := 0
	for _, k := range model.Default.Kinds() {
		if k.Group != model.GroupCalico {
			continue
		}
		out, err := c.Kubectl("", "get", k.Plural+"."+k.Group, "-A", "-o", "yaml")
		if err != nil {
			t.Errorf("get %s: %v", k.Plural, err)
			continue
		}
		docs, err := model.Decode([]byte(out), k.Plural)
		if err != nil {
			t.Errorf("decode %s as served:\n%v", k.Plural, err)
		}
		for _, d := range docs {
			n++
			model.SetDefaults(d.Object)
			for _, e := range model.Validate(d.Object) {
				t.Errorf("%s %s as served: %v", k.Kind, d.Object.GetName(), e)
			}
		}
	}
	if n == 0 {
		t.Error("no Calico objects were read back")
	}
	t.Logf("%d Calico objects read back, decoded and validated", n)
}

func explain(t *testing.T, c *kubetest.Cluster) {
	for _, tc := range []struct{ path, want string }{
		{"globalnetworkpolicy.spec", "Selector selects the endpoints the policy applies to"},
		{"globalnetworkpolicy.spec", "<[]Object>"},
		{"globalnetworkpolicy.spec.ingress.action", "Allow"},
		{"ippool.spec.cidr", "CIDR is the pool's range"},
		{"networkpolicies.projectcalico.org.spec.ingress.destination.ports", "a range"},
	} {
		out, err := c.Kubectl("", "explain", tc.path)
		if err != nil {
			t.Errorf("explain %s: %v", tc.path, err)
			continue
		}
		if !strings.Contains(out, tc.want) {
			t.Errorf("kubectl explain %s lacks %q:\n%s", tc.path, tc.want, out)
		}
		if tc.path == "globalnetworkpolicy.spec" && tc.want == "<[]Object>" {
			t.Logf("kubectl explain %s:\n%s", tc.path, out)
		}
	}
}
