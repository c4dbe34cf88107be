package lab

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestMatrixFamilies(t *testing.T) {
	v4, v6 := netip.MustParseAddr("10.244.0.1"), netip.MustParseAddr("2001:db8:244::1")
	dual := map[string][]netip.Addr{"a/x": {v4, v6}, "a/y": {v4, v6}}
	mixed := map[string][]netip.Addr{"a/x": {v4, v6}, "a/y": {v4}}
	for _, tc := range []struct {
		name  string
		flag  string
		addrs map[string][]netip.Addr
		want  []int
		err   string
	}{
		{"default dual-stack", "", dual, []int{4, 6}, ""},
		{"default with an IPv4-only pod", "", mixed, []int{4}, ""},
		{"explicit 6", "6", dual, []int{6}, ""},
		{"explicit all", "all", dual, []int{4, 6}, ""},
		{"6 but a pod lacks it", "6", mixed, nil, "pod a/y has no IPv6 address"},
		{"invalid", "5", dual, nil, "invalid family"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := matrixFamilies(tc.flag, []string{"a/x", "a/y"}, tc.addrs)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("families (-want +got):\n%s", d)
			}
		})
	}
}
