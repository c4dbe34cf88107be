package ipmath

import (
	"math"
	"net/netip"
	"testing"

	"github.com/trellisnet/trellis/internal/archtest"
)

var (
	addr   = netip.MustParseAddr
	prefix = netip.MustParsePrefix
)

// TestPureCore keeps the package pure: standard library only, no goroutines, no clock.
func TestPureCore(t *testing.T) {
	archtest.Check(t, ".", "address arithmetic must stay pure", archtest.Rules{
		Forbidden:    []string{"os", "os/exec", "net", "time", "syscall", "log", "log/slog"},
		StdlibOnly:   true,
		NoGoroutines: true,
		NoClock:      true,
	})
}

func TestAdd(t *testing.T) {
	tests := []struct {
		a    string
		n    uint64
		want string // "" when not ok
	}{
		{"192.0.2.0", 0, "192.0.2.0"},
		{"192.0.2.0", 5, "192.0.2.5"},
		{"192.0.2.255", 1, "192.0.3.0"},
		{"255.255.255.254", 1, "255.255.255.255"},
		{"255.255.255.255", 1, ""},
		{"0.0.0.0", math.MaxUint32, "255.255.255.255"},
		{"0.0.0.1", math.MaxUint32, ""},
		{"0.0.0.0", math.MaxUint64, ""},
		{"2001:db8::", 1, "2001:db8::1"},
		{"2001:db8::ffff:ffff:ffff:ffff", 1, "2001:db8:0:1::"}, // carry into the upper half
		{"2001:db8::", math.MaxUint64, "2001:db8::ffff:ffff:ffff:ffff"},
		{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", 1, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
		{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 1, ""},
		{"ffff:ffff:ffff:ffff::", math.MaxUint64, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
		{"ffff:ffff:ffff:ffff::1", math.MaxUint64, ""},
		{"::ffff:192.0.2.255", 1, "::ffff:192.0.3.0"}, // IPv4-mapped stays IPv6
		{"::ffff:255.255.255.255", 1, "::1:0:0:0"},
		{"fe80::1%eth0", 1, "fe80::2"}, // the zone is dropped
	}
	for _, tc := range tests {
		t.Run(tc.a, func(t *testing.T) {
			got, ok := Add(addr(tc.a), tc.n)
			if tc.want == "" {
				if ok || got.IsValid() {
					t.Errorf("Add(%s, %d) = %s, %v; want overflow", tc.a, tc.n, got, ok)
				}
				return
			}
			if !ok || got != addr(tc.want) {
				t.Errorf("Add(%s, %d) = %s, %v; want %s", tc.a, tc.n, got, ok, tc.want)
			}
		})
	}
	if got, ok := Add(netip.Addr{}, 1); ok || got.IsValid() {
		t.Errorf("Add(invalid) = %s, %v", got, ok)
	}
}

func TestDistance(t *testing.T) {
	tests := []struct {
		from, to string
		want     uint64
		ok       bool
	}{
		{"192.0.2.0", "192.0.2.0", 0, true},
		{"192.0.2.0", "192.0.3.1", 257, true},
		{"0.0.0.0", "255.255.255.255", math.MaxUint32, true},
		{"192.0.2.1", "192.0.2.0", 0, false},
		{"192.0.2.0", "2001:db8::", 0, false},
		{"192.0.2.0", "::ffff:192.0.2.0", 0, false},
		{"2001:db8::", "2001:db8:0:1::", 0, false}, // 2^64: too far
		{"2001:db8::", "2001:db8::ffff:ffff:ffff:ffff", math.MaxUint64, true},
		{"2001:db8::ffff:ffff:ffff:ffff", "2001:db8:0:1::", 1, true}, // borrow across the halves
		{"::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.from+"-"+tc.to, func(t *testing.T) {
			got, ok := Distance(addr(tc.from), addr(tc.to))
			if ok != tc.ok || got != tc.want {
				t.Errorf("Distance(%s, %s) = %d, %v; want %d, %v", tc.from, tc.to, got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestSize(t *testing.T) {
	tests := []struct {
		p    string
		want uint64
		ok   bool
	}{
		{"192.0.2.0/24", 256, true},
		{"192.0.2.7/32", 1, true},
		{"0.0.0.0/0", 1 << 32, true},
		{"2001:db8::/122", 64, true},
		{"2001:db8::/128", 1, true},
		{"2001:db8::/65", 1 << 63, true},
		{"2001:db8::/64", 0, false},
		{"::/0", 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.p, func(t *testing.T) {
			got, ok := Size(prefix(tc.p))
			if ok != tc.ok || got != tc.want {
				t.Errorf("Size(%s) = %d, %v; want %d, %v", tc.p, got, ok, tc.want, tc.ok)
			}
		})
	}
	if _, ok := Size(netip.Prefix{}); ok {
		t.Error("Size(invalid prefix) ok")
	}
}

func TestNthAndIndex(t *testing.T) {
	tests := []struct {
		p    string
		i    uint64
		want string // "" when i is outside p
	}{
		{"192.0.2.0/24", 0, "192.0.2.0"},
		{"192.0.2.0/24", 255, "192.0.2.255"},
		{"192.0.2.0/24", 256, ""},
		{"192.0.2.77/24", 10, "192.0.2.10"}, // counted from the masked address
		{"0.0.0.0/0", math.MaxUint32, "255.255.255.255"},
		{"0.0.0.0/0", 1 << 32, ""},
		{"2001:db8::/120", 255, "2001:db8::ff"},
		{"2001:db8::/120", 256, ""},
		{"2001:db8::/64", math.MaxUint64, "2001:db8::ffff:ffff:ffff:ffff"},
		{"2001:db8::/32", math.MaxUint64, "2001:db8::ffff:ffff:ffff:ffff"},
		{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ff00/120", 255, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
	}
	for _, tc := range tests {
		t.Run(tc.p+"#"+tc.want, func(t *testing.T) {
			p := prefix(tc.p)
			got, ok := Nth(p, tc.i)
			if tc.want == "" {
				if ok || got.IsValid() {
					t.Errorf("Nth(%s, %d) = %s, %v; want none", tc.p, tc.i, got, ok)
				}
				return
			}
			if !ok || got != addr(tc.want) {
				t.Fatalf("Nth(%s, %d) = %s, %v; want %s", tc.p, tc.i, got, ok, tc.want)
			}
			if i, ok := Index(p, got); !ok || i != tc.i {
				t.Errorf("Index(%s, %s) = %d, %v; want %d", tc.p, got, i, ok, tc.i)
			}
		})
	}
}

func TestIndexOutside(t *testing.T) {
	tests := []struct{ p, a string }{
		{"192.0.2.0/24", "192.0.3.0"},
		{"192.0.2.0/24", "::ffff:192.0.2.1"},
		{"2001:db8::/120", "2001:db8::100"},
		{"2001:db8::/63", "2001:db8:0:1::"}, // inside, but the index is 2^64
	}
	for _, tc := range tests {
		if i, ok := Index(prefix(tc.p), addr(tc.a)); ok {
			t.Errorf("Index(%s, %s) = %d, ok; want not ok", tc.p, tc.a, i)
		}
	}
	if _, ok := Nth(netip.Prefix{}, 0); ok {
		t.Error("Nth(invalid prefix) ok")
	}
}

func TestSubnet(t *testing.T) {
	tests := []struct {
		p      string
		length int
		i      uint64
		want   string // "" when not ok
	}{
		{"192.0.2.0/24", 26, 0, "192.0.2.0/26"},
		{"192.0.2.0/24", 26, 3, "192.0.2.192/26"},
		{"192.0.2.0/24", 26, 4, ""},
		{"192.0.2.0/24", 24, 0, "192.0.2.0/24"},
		{"192.0.2.0/24", 23, 0, ""},
		{"192.0.2.0/24", 33, 0, ""},
		{"192.0.2.9/24", 32, 255, "192.0.2.255/32"},
		{"10.0.0.0/8", 26, 1<<18 - 1, "10.255.255.192/26"},
		{"2001:db8::/48", 122, 1, "2001:db8::40/122"},
		{"2001:db8::/48", 64, 0xffff, "2001:db8:0:ffff::/64"}, // shift of 64 bits
		{"2001:db8::/32", 96, 1 << 40, "2001:db8:0:100::/96"},
		{"2001:db8::/48", 64, 1 << 16, ""},
		{"::/0", 64, math.MaxUint64, "ffff:ffff:ffff:ffff::/64"},
		{"::/0", 128, math.MaxUint64, "::ffff:ffff:ffff:ffff/128"},
	}
	for _, tc := range tests {
		t.Run(tc.p+"#"+tc.want, func(t *testing.T) {
			got, ok := Subnet(prefix(tc.p), tc.length, tc.i)
			if tc.want == "" {
				if ok || got.IsValid() {
					t.Errorf("Subnet(%s, %d, %d) = %s, %v; want none", tc.p, tc.length, tc.i, got, ok)
				}
				return
			}
			if !ok || got != prefix(tc.want) {
				t.Errorf("Subnet(%s, %d, %d) = %s, %v; want %s", tc.p, tc.length, tc.i, got, ok, tc.want)
			}
		})
	}
	if _, ok := Subnet(netip.Prefix{}, 0, 0); ok {
		t.Error("Subnet(invalid prefix) ok")
	}
}
