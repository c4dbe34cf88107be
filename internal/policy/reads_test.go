package policy

import (
	"testing"

	"github.com/trellisnet/trellis/internal/model"
)

// TestReads: every kind the calculation converts is read, whatever an empty object of it
// would make of its key (a ClusterNetworkPolicy's depends on its tier); others are not.
func TestReads(t *testing.T) {
	for k, want := range map[*model.Kind]bool{
		model.KindClusterNetworkPolicy: true,
		model.KindGlobalNetworkPolicy:  true,
		model.KindNetworkPolicy:        true,
		model.KindNamespace:            true,
		model.KindWorkloadEndpoint:     true,
		model.KindIPPool:               false,
		model.KindService:              false,
	} {
		if got := Reads(k); got != want {
			t.Errorf("Reads(%s) = %v, want %v", k.Kind, got, want)
		}
	}
}
