package model

import "testing"

func TestCIDRsOverlap(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"10.0.0.0/8", "10.0.0.0/16", true},
		{"10.0.0.0/16", "10.0.0.0/8", true},
		{"10.0.0.0/16", "10.1.0.0/16", false},
		{"192.0.2.0/24", "192.0.2.128/25", true},
		{"192.0.2.0/25", "192.0.2.128/25", false},
		{"192.0.2.5/24", "192.0.2.200/32", true}, // host bits are masked
		{"198.51.100.0/24", "198.51.100.0/24", true},
		{"2001:db8::/32", "2001:db8:1::/48", true},
		{"2001:db8::/48", "2001:db8:1::/48", false},
		{"2001:db8::/122", "2001:db8::40/122", false},
		{"0.0.0.0/0", "203.0.113.0/24", true},
		{"::/0", "203.0.113.0/24", false}, // families never overlap
		{"10.0.0.0/8", "2001:db8::/32", false},
		{"::ffff:10.0.0.0/104", "10.1.0.0/16", true}, // IPv4-mapped
	} {
		got, err := CIDRsOverlap(tc.a, tc.b)
		if err != nil || got != tc.want {
			t.Errorf("CIDRsOverlap(%s, %s) = %v, %v; want %v", tc.a, tc.b, got, err, tc.want)
		}
	}
	if _, err := CIDRsOverlap("10.0.0.0/33", "10.0.0.0/8"); err == nil {
		t.Error("an invalid CIDR gave no error")
	}
}

func TestSameCIDR(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"10.0.0.0/8", "10.0.0.0/8", true},
		{"10.0.0.1/8", "10.0.0.0/8", true},
		{"10.0.0.0/8", "10.0.0.0/9", false},
		{"2001:db8::/48", "2001:DB8:0::/48", true},
		{"bad", "bad", false},
	} {
		if got := SameCIDR(tc.a, tc.b); got != tc.want {
			t.Errorf("SameCIDR(%s, %s) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestPolicyTier(t *testing.T) {
	for _, tc := range []struct {
		obj    Object
		tier   string
		wantOK bool
	}{
		{&NetworkPolicy{}, "default", true},
		{&GlobalNetworkPolicy{Spec: GlobalNetworkPolicySpec{Tier: "security"}}, "security", true},
		{&StagedNetworkPolicy{Spec: StagedNetworkPolicySpec{Tier: "a"}}, "a", true},
		{&StagedGlobalNetworkPolicy{Spec: StagedGlobalNetworkPolicySpec{Tier: "b"}}, "b", true},
		{&StagedKubernetesNetworkPolicy{}, "", false},
		{&Tier{}, "", false},
	} {
		tier, ok := PolicyTier(tc.obj)
		if tier != tc.tier || ok != tc.wantOK {
			t.Errorf("PolicyTier(%T) = %q, %v; want %q, %v", tc.obj, tier, ok, tc.tier, tc.wantOK)
		}
	}
	for _, n := range []string{"default", "kube-admin", "kube-baseline"} {
		if !IsBuiltinTier(n) {
			t.Errorf("%s is not built in", n)
		}
	}
	if IsBuiltinTier("security") {
		t.Error("security is built in")
	}
}
