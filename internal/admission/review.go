package admission

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/refcheck"
	"github.com/trellisnet/trellis/internal/store"
)

// Reviewer decides admission requests.
type Reviewer struct {
	// Store is read for the reference checks (tiers, pools); nil skips them.
	Store store.Store
	// Metrics, when set, counts and times the reviews Handler answers.
	Metrics *Metrics
}

// Validate allows or refuses one request, with every problem in the message.
func (r *Reviewer) Validate(ctx context.Context, req *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
	if req.Operation == admissionv1.Delete {
		return r.validateDelete(ctx, req)
	}
	d, problems, err := decode(req)
	if err != nil {
		return deny(req, err.Error())
	}
	if len(problems) == 0 && r.Store != nil {
		mode := refcheck.Write
		if req.Operation == admissionv1.Create {
			mode = refcheck.Create
		}
		if err := refcheck.Check(ctx, r.Store, mode, []model.Document{d}); err != nil {
			if !errors.As(err, &problems) {
				return deny(req, "check references: "+err.Error())
			}
		}
	}
	if len(problems) > 0 {
		return deny(req, Messages(problems))
	}
	return &admissionv1.AdmissionResponse{UID: req.UID, Allowed: true}
}

func (r *Reviewer) validateDelete(ctx context.Context, req *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
	if r.Store != nil && req.Kind.Group == model.GroupCalico && req.Kind.Kind == model.KindTier.Kind {
		if err := refcheck.CheckTierDeletes(ctx, r.Store, []string{req.Name}); err != nil {
			return deny(req, err.Error())
		}
	}
	return &admissionv1.AdmissionResponse{UID: req.UID, Allowed: true}
}

// Mutate applies Calico's defaults to the object's spec as a JSON patch.
func (r *Reviewer) Mutate(_ context.Context, req *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
	resp := &admissionv1.AdmissionResponse{UID: req.UID, Allowed: true}
	if req.Operation == admissionv1.Delete || len(req.Object.Raw) == 0 {
		return resp
	}
	patch, err := defaultsPatch(req)
	if err != nil {
		return deny(req, err.Error())
	}
	if patch != nil {
		pt := admissionv1.PatchTypeJSONPatch
		resp.Patch, resp.PatchType = patch, &pt
	}
	return resp
}

// decode reads the request's object as `trellis validate` reads a document: strictly, with
// defaults, then validated. problems are its validation problems.
func decode(req *admissionv1.AdmissionRequest) (model.Document, model.Problems, error) {
	apiVersion := req.Kind.Version
	if req.Kind.Group != "" {
		apiVersion = req.Kind.Group + "/" + req.Kind.Version
	}
	if _, ok := model.Lookup(apiVersion, req.Kind.Kind); !ok {
		return model.Document{}, nil, fmt.Errorf("kind %s %s is not served by Trellis", apiVersion, req.Kind.Kind)
	}
	docs, err := model.Decode(req.Object.Raw, "request")
	var problems model.Problems
	if err != nil && !errors.As(err, &problems) {
		return model.Document{}, nil, err
	}
	if len(docs) != 1 {
		if len(problems) > 0 {
			return model.Document{}, problems, nil
		}
		return model.Document{}, nil, fmt.Errorf("the request holds %d objects, want 1", len(docs))
	}
	d := docs[0]
	model.SetDefaults(d.Object)
	problems = append(problems, d.Problems(model.Validate(d.Object))...)
	return d, problems, nil
}

// Messages joins problems as the API server shows a refusal: one "field.path: reason"
// per problem, without file, document or line.
func Messages(ps model.Problems) string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Message
	}
	return strings.Join(out, "; ")
}

func deny(req *admissionv1.AdmissionRequest, msg string) *admissionv1.AdmissionResponse {
	return &admissionv1.AdmissionResponse{UID: req.UID, Allowed: false, Result: &metav1.Status{
		Status: metav1.StatusFailure, Code: http.StatusUnprocessableEntity, Reason: metav1.StatusReasonInvalid, Message: msg}}
}

// defaultsPatch is a JSON patch that sets spec to its defaulted form, or nil when the
// defaults change nothing.
func defaultsPatch(req *admissionv1.AdmissionRequest) ([]byte, error) {
	var before map[string]json.RawMessage
	if err := json.Unmarshal(req.Object.Raw, &before); err != nil {
		return nil, fmt.Errorf("decode the object: %w", err)
	}
	d, _, err := decode(req)
	if err != nil || d.Object == nil {
		return nil, err
	}
	b, err := json.Marshal(d.Object)
	if err != nil {
		return nil, err
	}
	var after map[string]json.RawMessage
	if err := json.Unmarshal(b, &after); err != nil {
		return nil, err
	}
	spec, ok := after["spec"]
	if !ok || jsonEqual(before["spec"], spec) {
		return nil, nil
	}
	op := "replace"
	if _, had := before["spec"]; !had {
		op = "add"
	}
	return json.Marshal([]map[string]any{{"op": op, "path": "/spec", "value": spec}})
}

func jsonEqual(a, b json.RawMessage) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xb, _ := json.Marshal(x)
	yb, _ := json.Marshal(y)
	return string(xb) == string(yb)
}
