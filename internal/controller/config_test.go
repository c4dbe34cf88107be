package controller

import (
	"net/netip"
	"testing"
)

func TestConfigLoops(t *testing.T) {
	base := Config{ServiceCIDRs: []netip.Prefix{DefaultServiceCIDR}}
	all := base
	if err := all.Validate(); err != nil || !all.runs(LoopNamespaces) {
		t.Errorf("no Loops: err %v, runs namespaces %v; want every loop", err, all.runs(LoopNamespaces))
	}
	some := base
	some.Loops = []string{LoopServices, LoopEndpointLabels}
	if err := some.Validate(); err != nil {
		t.Fatal(err)
	}
	if !some.runs(LoopServices) || some.runs(LoopEndpointSlices) || some.runs(LoopNamespaces) {
		t.Errorf("Loops %v: runs services %v, endpointslices %v, namespaces %v", some.Loops,
			some.runs(LoopServices), some.runs(LoopEndpointSlices), some.runs(LoopNamespaces))
	}
	bad := base
	bad.Loops = []string{"endpoints"}
	if err := bad.Validate(); err == nil {
		t.Error("an unknown loop was accepted")
	}
}
