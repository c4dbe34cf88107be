package admission

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/trellisnet/trellis/internal/ctl"
	"github.com/trellisnet/trellis/internal/model"
)

var docSep = regexp.MustCompile(`(?m)^---[ \t]*$`)

// TestSameMessagesAsValidate feeds every document of the invalid-manifest corpus through
// `trellis validate`'s loader and through the webhook, and requires the same problems in
// the same words: one implementation, two doors.
func TestSameMessagesAsValidate(t *testing.T) {
	files, err := filepath.Glob("../model/testdata/manifests/invalid/*.yaml")
	if err != nil || len(files) < 10 {
		t.Fatalf("corpus: %v (%d files)", err, len(files))
	}
	compared := 0
	for _, f := range files {
		_, err := ctl.LoadManifests([]string{f}, nil, false)
		var problems model.Problems
		if !errors.As(err, &problems) {
			t.Fatalf("%s: validate found no problems: %v", f, err)
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, raw := range splitDocs(data) {
			req, ok := request(raw)
			if !ok {
				continue
			}
			want := messagesOf(problems, i+1)
			resp := (&Reviewer{}).Validate(context.Background(), req)
			var got []string
			if !resp.Allowed {
				got = strings.Split(resp.Result.Message, "; ")
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("%s document %d:\nwebhook:  %q\nvalidate: %q", f, i+1, got, want)
			}
			compared++
		}
	}
	if compared < 40 {
		t.Errorf("compared %d documents: the corpus did not reach the webhook", compared)
	}
}

// splitDocs splits a YAML stream into its non-empty documents, as the decoder counts them.
func splitDocs(data []byte) [][]byte {
	var out [][]byte
	for _, part := range docSep.Split(string(data), -1) {
		var v any
		if err := yaml.Unmarshal([]byte(part), &v); err == nil && v == nil {
			continue // empty or comments only: the decoder skips it
		}
		out = append(out, bytes.TrimSpace([]byte(part)))
	}
	return out
}

// request makes the AdmissionRequest the API server would send for a Calico document: the
// document as JSON (read as Trellis reads YAML), in namespace "default" when a namespaced
// object names none, as kubectl sends it. ok is false for documents that never reach the
// webhook: other groups, Trellis's internal kinds, text that is no YAML object (also
// duplicate keys, which kubectl refuses).
func request(doc []byte) (*admissionv1.AdmissionRequest, bool) {
	var obj map[string]any
	if yaml.Unmarshal(doc, &obj) != nil || obj == nil {
		return nil, false
	}
	apiVersion, _ := obj["apiVersion"].(string)
	kind, _ := obj["kind"].(string)
	k, ok := model.Lookup(apiVersion, kind)
	if !ok || k.Group != model.GroupCalico || k.Internal {
		return nil, false
	}
	if meta, _ := obj["metadata"].(map[string]any); k.Namespaced && meta != nil && meta["namespace"] == nil {
		meta["namespace"] = "default"
	}
	raw, err := json.Marshal(obj)
	if err != nil {
		return nil, false
	}
	req := &admissionv1.AdmissionRequest{UID: "u", Operation: admissionv1.Create, Object: runtime.RawExtension{Raw: raw}}
	req.Kind.Group, req.Kind.Version, req.Kind.Kind = k.Group, k.Version, k.Kind
	return req, true
}

func messagesOf(ps model.Problems, index int) []string {
	var out []string
	for _, p := range ps {
		if p.Index == index {
			out = append(out, p.Message)
		}
	}
	slices.Sort(out)
	return out
}
