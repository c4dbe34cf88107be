package model

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Port is a Calico rule port: a single number (80), a range ("1000:2000") or a named port
// ("http"). It marshals as Calico's numorstring.Port does: a single number as a JSON number,
// a range or a name as a string.
type Port struct {
	MinPort  uint16
	MaxPort  uint16
	PortName string
}

// SinglePort returns a Port matching exactly p.
func SinglePort(p uint16) Port { return Port{MinPort: p, MaxPort: p} }

// PortRange returns a Port matching min..max inclusive.
func PortRange(min, max uint16) Port { return Port{MinPort: min, MaxPort: max} }

// NamedPort returns a Port matching the named port of the selected endpoints.
func NamedPort(name string) Port { return Port{PortName: name} }

// ParsePort parses "80", "1000:2000" or a port name. Numbers out of range are an error; any
// other string is taken as a name (validation checks the name's syntax).
func ParsePort(s string) (Port, error) {
	if lo, hi, ok := strings.Cut(s, ":"); ok {
		min, err := strconv.ParseUint(lo, 10, 16)
		if err != nil {
			return Port{}, fmt.Errorf("invalid port range %q: minimum must be a number 0-65535", s)
		}
		max, err := strconv.ParseUint(hi, 10, 16)
		if err != nil {
			return Port{}, fmt.Errorf("invalid port range %q: maximum must be a number 0-65535", s)
		}
		return PortRange(uint16(min), uint16(max)), nil
	}
	if isDigits(s) {
		n, err := strconv.ParseUint(s, 10, 16)
		if err != nil {
			return Port{}, fmt.Errorf("invalid port %q: must be 0-65535", s)
		}
		return SinglePort(uint16(n)), nil
	}
	return NamedPort(s), nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// IsRange reports whether p covers more than one number.
func (p Port) IsRange() bool { return p.PortName == "" && p.MinPort != p.MaxPort }

// String gives "80", "1000:2000" or the name.
func (p Port) String() string {
	switch {
	case p.PortName != "":
		return p.PortName
	case p.MinPort == p.MaxPort:
		return strconv.Itoa(int(p.MinPort))
	default:
		return fmt.Sprintf("%d:%d", p.MinPort, p.MaxPort)
	}
}

// MarshalJSON writes a single port as a number, a range or a name as a string.
func (p Port) MarshalJSON() ([]byte, error) {
	if p.PortName == "" && p.MinPort == p.MaxPort {
		return []byte(strconv.Itoa(int(p.MinPort))), nil
	}
	return json.Marshal(p.String())
}

// UnmarshalJSON accepts a number or a string.
func (p *Port) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		return nil // JSON null leaves the value unchanged, as encoding/json expects
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		v, err := ParsePort(s)
		if err != nil {
			return err
		}
		*p = v
		return nil
	}
	n, err := strconv.ParseUint(string(b), 10, 16)
	if err != nil {
		return fmt.Errorf("invalid port %s: must be a number 0-65535, a range \"min:max\" or a name", b)
	}
	*p = SinglePort(uint16(n))
	return nil
}

// Protocol is a Calico protocol: a name (TCP, UDP, ICMP, ICMPv6, SCTP, UDPLite) or a number
// 0-255, as Calico's numorstring.Protocol.
type Protocol struct {
	// Num is set when the protocol was given as a number (IsNum true).
	Num   uint8
	Str   string
	IsNum bool
}

// Protocol names Calico accepts.
const (
	ProtocolTCP     = "TCP"
	ProtocolUDP     = "UDP"
	ProtocolICMP    = "ICMP"
	ProtocolICMPv6  = "ICMPv6"
	ProtocolSCTP    = "SCTP"
	ProtocolUDPLite = "UDPLite"
)

// ProtocolFromString returns a named protocol (or a number if s is one).
func ProtocolFromString(s string) Protocol {
	if n, err := strconv.ParseUint(s, 10, 8); err == nil {
		return Protocol{Num: uint8(n), IsNum: true}
	}
	return Protocol{Str: s}
}

// ProtocolFromInt returns a numeric protocol.
func ProtocolFromInt(n uint8) Protocol { return Protocol{Num: n, IsNum: true} }

// String gives the name or the number.
func (p Protocol) String() string {
	if p.IsNum {
		return strconv.Itoa(int(p.Num))
	}
	return p.Str
}

// Number returns the IP protocol number: the number given, or the number of a known name
// (case-insensitive); false for an unknown name.
func (p Protocol) Number() (uint8, bool) {
	if p.IsNum {
		return p.Num, true
	}
	switch strings.ToLower(p.Str) {
	case "tcp":
		return 6, true
	case "udp":
		return 17, true
	case "icmp":
		return 1, true
	case "icmpv6":
		return 58, true
	case "sctp":
		return 132, true
	case "udplite":
		return 136, true
	}
	return 0, false
}

// SupportsPorts reports whether rules with this protocol may match ports (TCP, UDP or SCTP,
// by name or number), as in Calico.
func (p Protocol) SupportsPorts() bool {
	n, ok := p.Number()
	return ok && (n == 6 || n == 17 || n == 132)
}

// MarshalJSON writes a number or a string.
func (p Protocol) MarshalJSON() ([]byte, error) {
	if p.IsNum {
		return []byte(strconv.Itoa(int(p.Num))), nil
	}
	return json.Marshal(p.Str)
}

// UnmarshalJSON accepts a number 0-255 or a string.
func (p *Protocol) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		return nil // JSON null leaves the value unchanged, as encoding/json expects
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*p = ProtocolFromString(s)
		return nil
	}
	n, err := strconv.ParseUint(string(b), 10, 8)
	if err != nil {
		return fmt.Errorf("invalid protocol %s: must be a name or a number 0-255", b)
	}
	*p = ProtocolFromInt(uint8(n))
	return nil
}

// ASNumber is a BGP AS number, written as a number or as a string in plain ("64512") or
// dotted ("1.10") notation; it marshals as a number.
type ASNumber uint32

// ParseASNumber parses plain or dotted notation.
func ParseASNumber(s string) (ASNumber, error) {
	if hi, lo, ok := strings.Cut(s, "."); ok {
		h, err1 := strconv.ParseUint(hi, 10, 16)
		l, err2 := strconv.ParseUint(lo, 10, 16)
		if err1 != nil || err2 != nil {
			return 0, fmt.Errorf("invalid AS number %q", s)
		}
		return ASNumber(h<<16 | l), nil
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("invalid AS number %q: must be 0-4294967295 or dotted notation", s)
	}
	return ASNumber(n), nil
}

// UnmarshalJSON accepts a number or a string.
func (a *ASNumber) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		return nil // JSON null leaves the value unchanged, as encoding/json expects
	}
	s := string(b)
	if len(b) > 0 && b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
	}
	v, err := ParseASNumber(s)
	if err != nil {
		return err
	}
	*a = v
	return nil
}

// String gives the plain notation.
func (a ASNumber) String() string { return strconv.FormatUint(uint64(a), 10) }
