package ctl

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/store"
	"github.com/trellisnet/trellis/internal/store/memory"
)

const (
	gnpIn = "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {name: %s}\nspec:\n  tier: %s\n  selector: all()\n"
	tierY = "apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {name: %s}\nspec: {order: 100}\n"
	poolY = "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: %s}\nspec: {cidr: %s}\n"
	sep   = "---\n"
)

// doc fills the %s of a document template in order.
func doc(tmpl string, args ...string) string {
	for _, a := range args {
		tmpl = strings.Replace(tmpl, "%s", a, 1)
	}
	return tmpl
}

func writeManifest(t *testing.T, body string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "m.yaml")
	if err := os.WriteFile(f, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

func count(t *testing.T, st store.Store, k *model.Kind) int {
	t.Helper()
	res, err := st.List(context.Background(), k, store.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return len(res.Items)
}

func TestWriteRefusesUnknownTier(t *testing.T) {
	for _, mode := range []writeMode{modeApply, modeCreate, modeReplace} {
		mem := memory.New(0)
		f := writeManifest(t, doc(tierY, "ok")+sep+doc(gnpIn, "x", "nosuchtier"))
		_, err := runWriteCmd(t, &failingStore{Store: mem, n: -1}, mode, f)
		want := f + `: document 2 (GlobalNetworkPolicy/x): spec.tier: Not found: "nosuchtier": tier nosuchtier does not exist (line 10)`
		if err == nil || err.Error() != want {
			t.Errorf("%s: err = %v\nwant %s", modeVerb[mode], err, want)
		}
		if n := count(t, mem, model.KindTier); n != 0 {
			t.Errorf("%s: %d tiers written although the file set was refused", modeVerb[mode], n)
		}
		mem.Close()
	}
}

func TestWriteAcceptsTiersFromFileSetDatastoreAndBuiltins(t *testing.T) {
	mem := memory.New(0)
	defer mem.Close()
	st := &failingStore{Store: mem, n: -1}
	// The policy before its tier in the same file set.
	f := writeManifest(t, doc(gnpIn, "a", "security")+sep+doc(tierY, "security"))
	if _, err := runWriteCmd(t, st, modeApply, f); err != nil {
		t.Fatalf("tier later in the file set: %v", err)
	}
	// The tier in the datastore, the built-in tiers, and a namespaced and staged policy.
	body := doc(gnpIn, "b", "security") + sep + doc(gnpIn, "c", "kube-admin") + sep + doc(gnpIn, "d", "kube-baseline") + sep +
		doc(gnpIn, "e", "default") + sep +
		"apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata: {name: f, namespace: ns}\nspec: {tier: security}\n" + sep +
		"apiVersion: projectcalico.org/v3\nkind: StagedNetworkPolicy\nmetadata: {name: g}\nspec: {tier: gone}\n"
	_, err := runWriteCmd(t, st, modeApply, writeManifest(t, body))
	want := `document 6 (StagedNetworkPolicy/default/g): spec.tier: Not found: "gone": tier gone does not exist`
	if err == nil || !strings.Contains(err.Error(), want) || strings.Count(err.Error(), "\n") != 0 {
		t.Fatalf("err = %v, want only %q", err, want)
	}
	if _, err := runWriteCmd(t, st, modeApply, writeManifest(t, strings.Split(body, sep+"apiVersion: projectcalico.org/v3\nkind: Staged")[0])); err != nil {
		t.Errorf("tiers from the datastore and built-in tiers: %v", err)
	}
}

func TestWriteRefusesOverlappingPools(t *testing.T) {
	mem := memory.New(0)
	defer mem.Close()
	st := &failingStore{Store: mem, n: -1}
	if _, err := runWriteCmd(t, st, modeApply, writeManifest(t, doc(poolY, "other", "10.0.0.0/8")+sep+doc(poolY, "v6", "2001:db8::/48"))); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, body string
		want       []string
	}{
		{"against the datastore", doc(poolY, "p", "10.0.0.0/16"),
			[]string{`document 1 (IPPool/p): spec.cidr: Invalid value: "10.0.0.0/16": overlaps IPPool other (10.0.0.0/8) (line 4)`}},
		{"IPv6", doc(poolY, "p6", "2001:db8::/64"),
			[]string{`spec.cidr: Invalid value: "2001:db8::/64": overlaps IPPool v6 (2001:db8::/48)`}},
		{"within the file set", doc(poolY, "a", "192.0.2.0/24") + sep + doc(poolY, "b", "192.0.2.128/25"),
			[]string{`document 2 (IPPool/b): spec.cidr: Invalid value: "192.0.2.128/25": overlaps IPPool a (192.0.2.0/24)`}},
		{"cidr of an existing pool", doc(poolY, "other", "11.0.0.0/8"),
			[]string{`spec.cidr: Invalid value: "11.0.0.0/8": an IPPool's cidr cannot be modified (IPPool other has 10.0.0.0/8)`}},
		{"blockSize of an existing pool", "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: other}\nspec: {cidr: 10.0.0.0/8, blockSize: 24}\n",
			[]string{`spec.blockSize: Invalid value: 24: an IPPool's blockSize cannot be modified (IPPool other has 26)`}},
	} {
		for _, mode := range []writeMode{modeApply, modeCreate, modeReplace} {
			if mode != modeApply && strings.Contains(tc.name, "existing") {
				continue
			}
			_, err := runWriteCmd(t, st, mode, writeManifest(t, tc.body))
			for _, w := range tc.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("%s, %s: err = %v\nwant %s", tc.name, modeVerb[mode], err, w)
				}
			}
		}
	}
	if n := count(t, mem, model.KindIPPool); n != 2 {
		t.Errorf("%d pools stored, want the 2 first applied", n)
	}
	// Re-applying existing pools (even overlapping ones) and a disjoint new pool is fine.
	if _, err := runWriteCmd(t, st, modeApply, writeManifest(t, doc(poolY, "other", "10.0.0.0/8")+sep+doc(poolY, "c", "198.51.100.0/24"))); err != nil {
		t.Errorf("re-apply: %v", err)
	}
}

func TestDeleteRefusesTierWithPolicies(t *testing.T) {
	mem := memory.New(0)
	defer mem.Close()
	st := &failingStore{Store: mem, n: -1}
	setup := doc(tierY, "security") + sep + doc(gnpIn, "a", "security") + sep + doc(gnpIn, "b", "security") + sep + doc(gnpIn, "c", "default")
	if _, err := runWriteCmd(t, st, modeApply, writeManifest(t, setup)); err != nil {
		t.Fatal(err)
	}
	_, err := runWriteCmd(t, st, modeDelete, writeManifest(t, doc(tierY, "security")+sep+doc(gnpIn, "a", "security")))
	want := "(Tier/security): tier security still has 1 policy: GlobalNetworkPolicy/b (delete them first)"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("delete -f: err = %v, want %q", err, want)
	}
	o := &Options{OpenStore: func(context.Context) (store.Store, error) { return st, nil }}
	cmd := NewDeleteCmd(o)
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs([]string{"tier", "security"})
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err = cmd.Execute()
	want = "tier security still has 2 policies: GlobalNetworkPolicy/a, GlobalNetworkPolicy/b (delete them first)\nnothing was deleted"
	if err == nil || err.Error() != want {
		t.Errorf("delete tier: err = %v, want %q", err, want)
	}
	if n := count(t, mem, model.KindTier); n != 1 {
		t.Errorf("%d tiers left, want 1", n)
	}
	// Deleting the tier with all its policies in one file set is fine.
	if _, err := runWriteCmd(t, st, modeDelete, writeManifest(t, setup)); err != nil {
		t.Errorf("delete of a tier with its policies: %v", err)
	}
}

func TestValidateWarnsAboutTiersNotInFiles(t *testing.T) {
	f := writeManifest(t, doc(gnpIn, "a", "security")+sep+doc(gnpIn, "b", "later")+sep+doc(tierY, "later")+sep+doc(gnpIn, "c", "kube-admin"))
	out, stderr, err := runValidate(t, "", "-f", f)
	if err != nil || !strings.Contains(out, "valid: 4 documents") {
		t.Fatalf("validate: %q, %v", out, err)
	}
	want := "Warning: " + f + `: document 1 (GlobalNetworkPolicy/a): spec.tier: Not found: "security": tier security is not in these files: it must exist in the datastore when applied (line 5)` + "\n"
	if stderr != want {
		t.Errorf("stderr = %q\nwant     %q", stderr, want)
	}
}
