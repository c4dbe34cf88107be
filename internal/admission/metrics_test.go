package admission

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	admissionv1 "k8s.io/api/admission/v1"

	"github.com/trellisnet/trellis/internal/metrictest"
)

// TestReviewsCounted posts an allowed and a refused review to the handler and reads the
// counts by webhook, kind, operation and verdict.
func TestReviewsCounted(t *testing.T) {
	m := NewMetrics()
	reg := prometheus.NewRegistry()
	reg.MustRegister(m.Collectors()...)
	srv := httptest.NewServer((&Reviewer{Metrics: m}).Handler(slog.New(slog.DiscardHandler)))
	defer srv.Close()
	post := func(path, doc string) {
		t.Helper()
		req, ok := request([]byte(doc))
		if !ok {
			t.Fatalf("not a Calico document: %s", doc)
		}
		body, err := json.Marshal(admissionv1.AdmissionReview{Request: req})
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.Post(srv.URL+path, "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	post("/validate", "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: ok}\nspec: {cidr: 10.244.0.0/16}\n")
	post("/validate", "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: bad}\nspec: {cidr: not-a-cidr}\n")
	post("/mutate", "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: ok}\nspec: {cidr: 10.244.0.0/16}\n")
	fams, err := metrictest.Gather(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		labels map[string]string
		want   float64
	}{
		{map[string]string{"webhook": "validate", "kind": "IPPool", "operation": "CREATE", "allowed": "true"}, 1},
		{map[string]string{"webhook": "validate", "kind": "IPPool", "operation": "CREATE", "allowed": "false"}, 1},
		{map[string]string{"webhook": "mutate", "allowed": "true"}, 1},
	} {
		if got, ok := fams.Value("trellis_admission_reviews_total", c.labels); !ok || got != c.want {
			t.Errorf("trellis_admission_reviews_total%v = %v (found %v), want %v", c.labels, got, ok, c.want)
		}
	}
	if got, _ := fams.Value("trellis_admission_review_duration_seconds", map[string]string{"webhook": "validate"}); got != 2 {
		t.Errorf("validate durations observed %v, want 2", got)
	}
}
