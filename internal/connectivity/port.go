package connectivity

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// UsageError marks an argument the user got wrong (a port, a family, an endpoint
// reference); the CLI turns it into its own usage error (exit code 2).
type UsageError struct{ msg string }

func (e *UsageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &UsageError{msg: fmt.Sprintf(format, args...)}
}

// IsUsage reports whether err is (or wraps) a UsageError.
func IsUsage(err error) bool {
	var u *UsageError
	return errors.As(err, &u)
}

// Port is a PROTO/PORT: tcp, udp or sctp with a number 1-65535, or icmp without one.
type Port struct {
	Proto string
	Num   uint16
}

func (p Port) String() string {
	if p.Proto == "icmp" {
		return "icmp"
	}
	return p.Proto + "/" + strconv.Itoa(int(p.Num))
}

// ParsePort parses tcp/80, udp/53, sctp/9000 or icmp (case-insensitive).
func ParsePort(s string) (Port, error) {
	proto, num, hasNum := strings.Cut(strings.ToLower(strings.TrimSpace(s)), "/")
	switch proto {
	case "icmp":
		return Port{Proto: "icmp"}, nil
	case "tcp", "udp", "sctp":
	default:
		return Port{}, usagef("invalid port %q: protocol must be tcp, udp, sctp or icmp", s)
	}
	n, err := strconv.ParseUint(num, 10, 16)
	if !hasNum || err != nil || n == 0 {
		return Port{}, usagef("invalid port %q: want PROTO/PORT with PORT 1-65535", s)
	}
	return Port{Proto: proto, Num: uint16(n)}, nil
}

// ParsePorts parses a list of PROTO/PORT values.
func ParsePorts(list []string) ([]Port, error) {
	out := make([]Port, 0, len(list))
	for _, s := range list {
		p, err := ParsePort(s)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// ParseFamilies parses a --family value: "4", "6" or "all" (both, IPv4 first).
func ParseFamilies(s string) ([]int, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "4", "ipv4":
		return []int{4}, nil
	case "6", "ipv6":
		return []int{6}, nil
	case "all":
		return []int{4, 6}, nil
	}
	return nil, usagef("invalid family %q: want 4, 6 or all", s)
}

// FamilyOf returns 4 or 6.
func FamilyOf(a netip.Addr) int {
	if a.Unmap().Is4() {
		return 4
	}
	return 6
}

// AddrOfFamily returns the first address of the family (4 or 6).
func AddrOfFamily(addrs []netip.Addr, family int) (netip.Addr, bool) {
	for _, a := range addrs {
		if FamilyOf(a) == family {
			return a, true
		}
	}
	return netip.Addr{}, false
}
