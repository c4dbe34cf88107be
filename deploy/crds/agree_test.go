package crds_test

import (
	"testing"

	"github.com/trellisnet/trellis/internal/model"
)

// TestSchemaCasesAgreeWithModel: Trellis's own decoder and validator refuse exactly the
// objects the CRD schemas refuse (TestKubeAPIServer checks the schemas' side), so the CRDs
// are never stricter than Trellis and the cases test what Trellis means. Needs no binaries.
func TestSchemaCasesAgreeWithModel(t *testing.T) {
	for _, tc := range schemaCases {
		t.Run(tc.name, func(t *testing.T) {
			docs, err := model.Decode([]byte(tc.yaml), tc.name)
			var errs []string
			if err != nil {
				errs = append(errs, err.Error())
			}
			for _, d := range docs {
				model.SetDefaults(d.Object)
				for _, e := range model.Validate(d.Object) {
					errs = append(errs, e.Error())
				}
			}
			if tc.want == nil && len(errs) > 0 {
				t.Errorf("the schema accepts it, Trellis refuses it: %v", errs)
			}
			if tc.want != nil && len(errs) == 0 {
				t.Errorf("the schema refuses it (%v), Trellis accepts it", tc.want)
			}
			if tc.want != nil {
				t.Logf("trellis: %v", errs)
			}
		})
	}
}
