package nflog

import (
	"net/netip"
	"testing"
)

func TestParsePayload(t *testing.T) {
	v6 := make([]byte, 48)
	v6[0] = 0x60
	v6[5] = 8 // payload length
	v6[6] = 17
	src, dst := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")
	copy(v6[8:], src.AsSlice())
	copy(v6[24:], dst.AsSlice())
	v6[40], v6[41], v6[42], v6[43] = 0x9c, 0x40, 0x00, 0x35 // 40000 -> 53
	var p Packet
	if err := parsePayload(v6, &p); err != nil {
		t.Fatal(err)
	}
	if p.Src != src || p.Dst != dst || p.Proto != "udp" || p.SrcPort != 40000 || p.DstPort != 53 || p.Len != 48 {
		t.Errorf("IPv6 UDP: %+v", p)
	}
	for name, b := range map[string][]byte{"empty": nil, "short v4": {0x45, 0}, "short v6": {0x60}, "version 5": {0x50}} {
		if err := parsePayload(b, &Packet{}); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
