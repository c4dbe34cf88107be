package model

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
)

func problemStrings(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	var ps Problems
	if !errors.As(err, &ps) {
		t.Fatalf("error %v is not Problems", err)
	}
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}

func TestDecodeStreams(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		wantRefs []string // Ref of each document, in order
		wantIdx  []int    // Index of each document
		wantErrs []string
	}{
		{
			name: "multi-document YAML with empty documents and comments",
			in: "---\n# only a comment\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\n\n---\n" +
				"apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {name: t}\n...\n",
			wantRefs: []string{"Namespace/a", "Tier/t"},
			wantIdx:  []int{1, 2},
		},
		{
			name:     "JSON, several values, tab indented",
			in:       "{\n\t\"apiVersion\": \"v1\",\n\t\"kind\": \"Namespace\",\n\t\"metadata\": {\"name\": \"a\"}\n}\n{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"b\"}}",
			wantRefs: []string{"Namespace/a", "Namespace/b"},
			wantIdx:  []int{1, 2},
		},
		{
			name: "v1 List and kind List flattened",
			in: "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Namespace, metadata: {name: a}}\n" +
				"- {apiVersion: projectcalico.org/v3, kind: IPPool, metadata: {name: p}, spec: {cidr: 192.0.2.0/24}}\n",
			wantRefs: []string{"Namespace/a", "IPPool/p"},
			wantIdx:  []int{1, 1},
		},
		{
			name: "typed list as printed by get -o yaml",
			in: "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkSetList\nmetadata: {resourceVersion: '5'}\nitems:\n" +
				"- {apiVersion: projectcalico.org/v3, kind: GlobalNetworkSet, metadata: {name: a}}\n",
			wantRefs: []string{"GlobalNetworkSet/a"},
			wantIdx:  []int{1},
		},
		{
			name:     "unknown field names the path and line",
			in:       "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata:\n  name: x\nspec:\n  ingress:\n  - action: Allow\n    source:\n      selectr: a == 'b'\n",
			wantErrs: []string{`f.yaml: document 1 (GlobalNetworkPolicy/x): spec.ingress[0].source.selectr: Unknown field (did you mean "selector"?) (line 9)`},
			wantRefs: []string{"GlobalNetworkPolicy/x"},
			wantIdx:  []int{1},
		},
		{
			name:     "unknown field in metadata of a Kubernetes kind",
			in:       "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: x\n  label: {a: b}\n",
			wantErrs: []string{`f.yaml: document 1 (Namespace/x): metadata.label: Unknown field (did you mean "labels"?) (line 5)`},
			wantRefs: []string{"Namespace/x"},
			wantIdx:  []int{1},
		},
		{
			name:     "field names are case-sensitive",
			in:       "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: p}\nspec: {CIDR: 192.0.2.0/24}\n",
			wantErrs: []string{`f.yaml: document 1 (IPPool/p): spec.CIDR: Unknown field (did you mean "cidr"?) (line 4)`},
			wantRefs: []string{"IPPool/p"},
			wantIdx:  []int{1},
		},
		{
			name: "unknown apiVersion and kind",
			in:   "apiVersion: projectcalico.org/v1\nkind: Policy\n---\napiVersion: v1\nkind: NetworkPolicy\n",
			wantErrs: []string{
				`f.yaml: document 1: unknown kind "Policy" in apiVersion "projectcalico.org/v1" (line 1)`,
				`f.yaml: document 2: unknown kind "NetworkPolicy" in apiVersion "v1" (known: networking.k8s.io/v1 NetworkPolicy, projectcalico.org/v3 NetworkPolicy) (line 4)`,
			},
		},
		{
			name:     "not an object",
			in:       "- a\n- b\n",
			wantErrs: []string{`f.yaml: document 1: a document must be an object with apiVersion and kind (line 1)`},
		},
		{
			name: "aliases and merge keys",
			in: "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\nmetadata:\n  name: s\n  labels: &l {a: b}\n  annotations:\n    <<: *l\n    c: d\n" +
				"spec:\n  nets: &n [192.0.2.0/24]\n",
			wantRefs: []string{"GlobalNetworkSet/s"},
			wantIdx:  []int{1},
		},
		{
			name:     "wrong scalar type",
			in:       "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: p}\nspec:\n  cidr: 192.0.2.0/24\n  natOutgoing: yes\n  blockSize: 26.5\n",
			wantErrs: []string{`f.yaml: document 1 (IPPool/p): spec.natOutgoing: Invalid value: "yes": expected a boolean, got a string (line 6)`, `f.yaml: document 1 (IPPool/p): spec.blockSize: Invalid value: 26.5: expected an integer (64-bit), got a number (line 7)`},
			wantRefs: []string{"IPPool/p"},
			wantIdx:  []int{1},
		},
		{
			name:     "syntax error",
			in:       "apiVersion: v1\nkind: Namespace\nmetadata: {name: a\n",
			wantErrs: []string{`f.yaml: document 1: invalid YAML: did not find expected ',' or '}' (line 3)`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			docs, err := Decode([]byte(tt.in), "f.yaml")
			if diff := cmp.Diff(tt.wantErrs, problemStrings(t, err)); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
			var refs []string
			var idx []int
			for _, d := range docs {
				refs = append(refs, d.Ref())
				idx = append(idx, d.Index)
				if d.Source != "f.yaml" {
					t.Errorf("source %q", d.Source)
				}
				if d.Partial != (err != nil) {
					t.Errorf("%s: Partial = %v with err %v", d.Ref(), d.Partial, err)
				}
			}
			if diff := cmp.Diff(tt.wantRefs, refs); diff != "" {
				t.Errorf("documents (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantIdx, idx); diff != "" {
				t.Errorf("indexes (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodeMergeAndAliasValues(t *testing.T) {
	in := "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\nmetadata:\n  name: s\n  labels: &l {a: b}\n  annotations:\n    <<: *l\n    c: d\n    a: override\n"
	docs, err := Decode([]byte(in), "f")
	if err != nil {
		t.Fatal(err)
	}
	got := docs[0].Object.(*GlobalNetworkSet).Annotations
	if diff := cmp.Diff(map[string]string{"a": "override", "c": "d"}, got); diff != "" {
		t.Errorf("annotations (-want +got):\n%s", diff)
	}
}

func TestDecodeAliasBombIsBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString("apiVersion: projectcalico.org/v3\nkind: FelixConfiguration\nmetadata:\n  name: x\nspec:\n    a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 9; i++ {
		b.WriteString("    a" + string(rune('0'+i)) + ": &a" + string(rune('0'+i)) + " [")
		for j := 0; j < 10; j++ {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString("*a" + string(rune('0'+i-1)))
		}
		b.WriteString("]\n")
	}
	_, err := Decode([]byte(b.String()), "bomb.yaml")
	if err == nil || !strings.Contains(err.Error(), "too large") {
		t.Errorf("alias bomb: err = %v, want a size error", err)
	}
}

func TestDecodeFelixConfigurationKeepsUnknownFields(t *testing.T) {
	in := "apiVersion: projectcalico.org/v3\nkind: FelixConfiguration\nmetadata: {name: default}\nspec:\n  logPrefix: x\n  bpfEnabled: true\n  routeTableRanges: [{min: 1, max: 250}]\n"
	docs, err := Decode([]byte(in), "f")
	if err != nil {
		t.Fatal(err)
	}
	fc := docs[0].Object.(*FelixConfiguration)
	if diff := cmp.Diff([]string{"spec.bpfEnabled", "spec.routeTableRanges"}, fc.Ignored()); diff != "" {
		t.Errorf("Ignored (-want +got):\n%s", diff)
	}
	var warns []string
	for _, w := range docs[0].Warnings {
		warns = append(warns, w.String())
	}
	want := []string{
		"f: document 1 (FelixConfiguration/default): spec.bpfEnabled: ignored: Trellis does not use this field (kept as given) (line 6)",
		"f: document 1 (FelixConfiguration/default): spec.routeTableRanges: ignored: Trellis does not use this field (kept as given) (line 7)",
	}
	if diff := cmp.Diff(want, warns); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
	b, err := json.Marshal(fc)
	if err != nil {
		t.Fatal(err)
	}
	wantJSON := `{"kind":"FelixConfiguration","apiVersion":"projectcalico.org/v3","metadata":{"name":"default"},"spec":{"bpfEnabled":true,"logPrefix":"x","routeTableRanges":[{"max":250,"min":1}]}}`
	if string(b) != wantJSON {
		t.Errorf("marshal:\n got %s\nwant %s", b, wantJSON)
	}
	if c := Clone(fc).(*FelixConfiguration); !cmp.Equal(c.Ignored(), fc.Ignored()) || c.Spec.LogPrefix != "x" {
		t.Errorf("Clone lost fields: %+v", c.Spec)
	}
}

func TestDecodeLinesLocateValidationErrors(t *testing.T) {
	in := "apiVersion: v1\nkind: Service\nmetadata:\n  name: s\n  namespace: d\nspec:\n  ports:\n  - port: 80\n    protocol: TCP\n  - port: 0\n    name: b\n    protocol: TCP\n"
	docs, err := Decode([]byte(in), "svc.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	SetDefaults(docs[0].Object)
	for _, p := range docs[0].Problems(Validate(docs[0].Object)) {
		got = append(got, p.String())
	}
	want := []string{
		`svc.yaml: document 1 (Service/d/s): spec.ports[0].name: Required value: a name is required when a Service has several ports (line 8)`,
		`svc.yaml: document 1 (Service/d/s): spec.ports[1].port: Invalid value: 0: must be between 1 and 65535, inclusive (line 10)`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if _, ok := docs[0].Object.(*corev1.Service); !ok {
		t.Errorf("object is %T", docs[0].Object)
	}
}

func TestDecodeYAMLFlowMappingIsNotJSON(t *testing.T) {
	docs, err := Decode([]byte("{apiVersion: v1, kind: Namespace, metadata: {name: a}}\n"), "f")
	if err != nil || len(docs) != 1 || docs[0].Ref() != "Namespace/a" {
		t.Errorf("flow mapping: %d docs, err %v", len(docs), err)
	}
}

func TestCloneIsDeep(t *testing.T) {
	pool := &IPPool{Spec: IPPoolSpec{CIDR: "192.0.2.0/24", AllowedUses: []IPPoolAllowedUse{AllowedUseWorkload}}}
	pool.Name = "p"
	c := Clone(pool).(*IPPool)
	c.Spec.AllowedUses[0] = AllowedUseTunnel
	c.Name = "q"
	if pool.Spec.AllowedUses[0] != AllowedUseWorkload || pool.Name != "p" {
		t.Errorf("Clone shares memory with the original: %+v", pool)
	}
	if c.Spec.CIDR != "192.0.2.0/24" {
		t.Errorf("Clone lost a field: %+v", c.Spec)
	}
}

func TestDecodeRepeatedFieldWithSameValueWarns(t *testing.T) {
	in := "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n  name: a\n"
	docs, err := Decode([]byte(in), "f")
	if err != nil {
		t.Fatal(err)
	}
	if len(docs[0].Warnings) != 1 || !strings.Contains(docs[0].Warnings[0].String(), "metadata.name: duplicate field with the same value, ignored (line 5)") {
		t.Errorf("warnings = %v", docs[0].Warnings)
	}
}

// A YAML syntax error names the faulty line, not the line where the enclosing construct
// began (which is what the YAML parser reports).
func TestSyntaxErrorLine(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		line     int
	}{
		{"misindented key in document 2", "kind: Tier\n---\nkind: Tier\nmetadata:\n  name: b\n spec: [\n", 6},
		{"unclosed flow sequence", "a: b\nc: [1, 2\nd: e\n", 2},
		{"tab in indentation", "kind: Tier\nspec:\n  order: 1\n\tfoo: 2\n", 4},
		{"valid multi-line flow before the fault", "a: [1,\n  2]\nb: {c\n", 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode([]byte(tc.in), "f.yaml")
			var ps Problems
			if !errors.As(err, &ps) {
				t.Fatalf("got %v, want problems", err)
			}
			last := ps[len(ps)-1]
			if last.Line != tc.line || !strings.HasPrefix(last.Message, "invalid YAML: ") {
				t.Fatalf("got %v, want the syntax error at line %d", err, tc.line)
			}
		})
	}
}
