package ctl

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trellisnet/trellis/internal/model/corpus"

	"github.com/google/go-cmp/cmp"

	"github.com/trellisnet/trellis/internal/model"
)

// runValidate runs `trellis validate` with args and stdin; it returns stdout, stderr, error.
func runValidate(t *testing.T, stdin string, args ...string) (string, string, error) {
	t.Helper()
	cmd := NewValidateCmd()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetArgs(args)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err := cmd.Execute()
	return out.String(), errOut.String(), err
}

// corpusDir is the manifest corpus, kept next to the model that decodes and validates it
// (internal/model tests the same files without the CLI).
var corpusDir = filepath.Join("..", "model", "testdata", "manifests")

func manifestFiles(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(corpusDir, dir, "*.*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no test files in %s: %v", dir, err)
	}
	return files
}

// TestValidateValidFiles: every valid example (Calico and Kubernetes docs style, every kind)
// passes with exit status 0 and a summary.
func TestValidateValidFiles(t *testing.T) {
	for _, f := range manifestFiles(t, "valid") {
		t.Run(filepath.Base(f), func(t *testing.T) {
			out, _, err := runValidate(t, "", "-f", f)
			if err != nil {
				t.Fatalf("validate %s: %v", f, err)
			}
			if !strings.HasPrefix(out, "valid: ") || !strings.HasSuffix(out, "in 1 file\n") {
				t.Errorf("summary = %q", out)
			}
		})
	}
}

// TestValidateEveryKindCovered: the valid examples hold at least one object of every
// manifest kind.
func TestValidateEveryKindCovered(t *testing.T) {
	docs, err := LoadManifests([]string{filepath.Join(corpusDir, "valid")}, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, d := range docs {
		k, _ := model.KeyOf(d.Object)
		seen[k.Kind.APIVersion()+"/"+k.Kind.Kind] = true
	}
	for _, k := range model.Default.Kinds() {
		if k.Internal {
			continue
		}
		if !seen[k.APIVersion()+"/"+k.Kind] {
			t.Errorf("no valid example of %s %s", k.APIVersion(), k.Kind)
		}
	}
}

// TestInvalidExamplesCoverEveryKind: the invalid examples hold at least one object of every
// manifest kind.
func TestInvalidExamplesCoverEveryKind(t *testing.T) {
	seen := map[string]bool{}
	for _, f := range manifestFiles(t, "invalid") {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		apiVersion := ""
		for _, line := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(line, "apiVersion: "); ok {
				apiVersion = v
			}
			if k, ok := strings.CutPrefix(line, "kind: "); ok {
				seen[apiVersion+"/"+k] = true
			}
		}
	}
	for _, k := range model.Default.Kinds() {
		if !k.Internal && !seen[k.APIVersion()+"/"+k.Kind] {
			t.Errorf("no invalid example of %s %s", k.APIVersion(), k.Kind)
		}
	}
}

// wants reads the "# want: TEXT" lines of an invalid example.
func wants(t *testing.T, path string) []string {
	t.Helper()
	out, err := corpus.Wants(path)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestValidateInvalidFiles: every invalid example fails, and the error names each expected
// field path and reason; the number of reported problems equals the number of wants, so an
// unexpected extra problem fails the test too.
func TestValidateInvalidFiles(t *testing.T) {
	for _, f := range manifestFiles(t, "invalid") {
		t.Run(filepath.Base(f), func(t *testing.T) {
			want := wants(t, f)
			out, _, err := runValidate(t, "", "-f", f)
			if err == nil {
				t.Fatalf("validate %s succeeded (%q), want an error", f, out)
			}
			if out != "" {
				t.Errorf("stdout = %q, want nothing", out)
			}
			msg := err.Error()
			for _, w := range want {
				if !strings.Contains(msg, w) {
					t.Errorf("error lacks %q:\n%s", w, msg)
				}
			}
			lines := strings.Split(msg, "\n")
			if len(lines) != len(want) {
				t.Errorf("got %d problems, want %d:\n%s", len(lines), len(want), msg)
			}
			for _, l := range lines {
				if !strings.HasPrefix(l, f+": ") {
					t.Errorf("problem does not start with the file name: %q", l)
				}
			}
		})
	}
}

func TestValidateSummaryDirectoryAndStdin(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ns := "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n"
	write("b.yaml", ns+"---\n"+strings.Replace(ns, "name: a", "name: b", 1))
	write("a.json", `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"c"}}`)
	write("notes.txt", "not a manifest")
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	write("sub/bad.yaml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: Bad_Name}\n")

	out, _, err := runValidate(t, "", "-f", dir)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff("valid: 3 documents in 2 files\n", out); diff != "" {
		t.Errorf("summary (-want +got):\n%s", diff)
	}
	_, _, err = runValidate(t, "", "-f", dir, "-R")
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "sub", "bad.yaml")+": document 1 (Namespace/Bad_Name): metadata.name: Invalid value") {
		t.Errorf("recursive: err = %v, want the sub-directory's bad file", err)
	}
	out, _, err = runValidate(t, ns, "-f", "-")
	if err != nil || out != "valid: 1 document in 1 file\n" {
		t.Errorf("stdin: out %q err %v", out, err)
	}
}

func TestValidateUsageAndMissingFile(t *testing.T) {
	_, _, err := runValidate(t, "")
	var u UsageError
	if !errors.As(err, &u) {
		t.Errorf("no -f: err = %v, want a usage error", err)
	}
	_, _, err = runValidate(t, "", "-f", "does-not-exist.yaml")
	if err == nil || !strings.Contains(err.Error(), "does-not-exist.yaml: cannot read: no such file or directory") {
		t.Errorf("missing file: err = %v", err)
	}
	_, _, err = runValidate(t, "", "-f", filepath.Join(t.TempDir()))
	if err == nil || !strings.Contains(err.Error(), "no objects found") {
		t.Errorf("empty directory: err = %v", err)
	}
}

func TestValidateWarnsAboutIgnoredFelixFields(t *testing.T) {
	_, stderr, err := runValidate(t, "", "-f", filepath.Join(corpusDir, "valid", "felixconfiguration.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"spec.bpfEnabled", "spec.chainInsertMode", "spec.ipipMTU"} {
		if !strings.Contains(stderr, "Warning: ") || !strings.Contains(stderr, f+": ignored") {
			t.Errorf("stderr lacks a warning for %s:\n%s", f, stderr)
		}
	}
	if strings.Contains(stderr, "spec.logPrefix") {
		t.Errorf("honoured field reported as ignored:\n%s", stderr)
	}
}

// TestLoadManifestsAllOrNothing: one bad document anywhere means no documents at all, and
// every problem of every file is reported.
func TestLoadManifestsAllOrNothing(t *testing.T) {
	dir := t.TempDir()
	good := "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\nmetadata: {name: ok}\nspec: {nets: [192.0.2.0/24]}\n"
	bad1 := "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\nmetadata: {name: bad}\nspec: {nets: [192.0.2.300/24]}\n"
	bad2 := "apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {name: t}\nspec: {defaultAction: Allow}\n"
	f1, f2 := filepath.Join(dir, "1.yaml"), filepath.Join(dir, "2.yaml")
	if err := os.WriteFile(f1, []byte(good+"---\n"+bad1), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f2, []byte(bad2+"---\n"+strings.ReplaceAll(good, "name: ok", "name: ok2")), 0o644); err != nil {
		t.Fatal(err)
	}
	docs, err := LoadManifests([]string{f1, f2}, nil, false)
	if docs != nil {
		t.Errorf("got %d documents with an invalid input, want none", len(docs))
	}
	var ps model.Problems
	if !errors.As(err, &ps) {
		t.Fatalf("err = %v, want model.Problems", err)
	}
	got := []string{}
	for _, p := range ps {
		got = append(got, p.String())
	}
	want := []string{
		f1 + `: document 2 (GlobalNetworkSet/bad): spec.nets[0]: Invalid value: "192.0.2.300/24": must be an IP address or a CIDR (line 9)`,
		f2 + `: document 1 (Tier/t): spec.defaultAction: Unsupported value: "Allow": supported values: "Deny", "Pass" (line 4)`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
}

// TestLoadManifestsDefaultsNamespaceAndApplies: a namespaced object without a namespace gets
// "default"; defaults are applied.
func TestLoadManifestsDefaultsNamespace(t *testing.T) {
	in := "apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata: {name: p}\nspec: {selector: all()}\n" +
		"---\napiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: q, namespace: ignored}\nspec: {cidr: 192.0.2.0/24}\n"
	docs, err := LoadManifests([]string{"-"}, strings.NewReader(in), false)
	if err != nil {
		t.Fatal(err)
	}
	np := docs[0].Object.(*model.NetworkPolicy)
	if np.Namespace != "default" || np.Spec.Tier != "default" || len(np.Spec.Types) != 1 {
		t.Errorf("policy not defaulted: ns %q tier %q types %v", np.Namespace, np.Spec.Tier, np.Spec.Types)
	}
	pool := docs[1].Object.(*model.IPPool)
	if pool.Namespace != "" || pool.Spec.BlockSize != 26 {
		t.Errorf("pool: ns %q blockSize %d", pool.Namespace, pool.Spec.BlockSize)
	}
}

// TestValidManifestsRoundTrip: for every valid example, loading (decode, default, validate),
// marshalling and decoding again gives an equal object: what `apply` stores is what `get`
// gives back.
func TestValidManifestsRoundTrip(t *testing.T) {
	docs, err := LoadManifests([]string{filepath.Join(corpusDir, "valid")}, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range docs {
		t.Run(d.Ref(), func(t *testing.T) {
			b, err := json.Marshal(d.Object)
			if err != nil {
				t.Fatal(err)
			}
			again, err := model.Decode(b, "round-trip")
			if err != nil {
				t.Fatalf("decode: %v\n%s", err, b)
			}
			if diff := cmp.Diff(d.Object, again[0].Object); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}
			if errs := model.Validate(again[0].Object); len(errs) > 0 {
				t.Errorf("round-tripped object invalid: %v", errs)
			}
		})
	}
}
