package model

import (
	"encoding/json"
	"testing"
)

func TestPortJSON(t *testing.T) {
	tests := []struct {
		in, out string
		want    Port
		wantErr bool
	}{
		{in: `80`, out: `80`, want: SinglePort(80)},
		{in: `"80"`, out: `80`, want: SinglePort(80)},
		{in: `"1000:2000"`, out: `"1000:2000"`, want: PortRange(1000, 2000)},
		{in: `"http"`, out: `"http"`, want: NamedPort("http")},
		{in: `"5:5"`, out: `5`, want: PortRange(5, 5)},
		{in: `65536`, wantErr: true},
		{in: `-1`, wantErr: true},
		{in: `"70000"`, wantErr: true},
		{in: `"1:x"`, wantErr: true},
		{in: `1.5`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var p Port
			err := json.Unmarshal([]byte(tt.in), &p)
			if (err != nil) != tt.wantErr {
				t.Fatalf("unmarshal %s: err = %v, wantErr %v", tt.in, err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if p != tt.want {
				t.Errorf("unmarshal %s = %+v, want %+v", tt.in, p, tt.want)
			}
			b, err := json.Marshal(p)
			if err != nil || string(b) != tt.out {
				t.Errorf("marshal = %s, %v; want %s", b, err, tt.out)
			}
		})
	}
}

func TestProtocolJSON(t *testing.T) {
	tests := []struct {
		in, out  string
		ports    bool
		number   uint8
		isNumber bool
		wantErr  bool
	}{
		{in: `"TCP"`, out: `"TCP"`, ports: true, number: 6},
		{in: `"UDPLite"`, out: `"UDPLite"`, number: 136},
		{in: `6`, out: `6`, ports: true, number: 6, isNumber: true},
		{in: `"17"`, out: `17`, ports: true, number: 17, isNumber: true},
		{in: `132`, out: `132`, ports: true, number: 132, isNumber: true},
		{in: `"ICMPv6"`, out: `"ICMPv6"`, number: 58},
		{in: `256`, wantErr: true},
		{in: `true`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var p Protocol
			err := json.Unmarshal([]byte(tt.in), &p)
			if (err != nil) != tt.wantErr {
				t.Fatalf("unmarshal %s: err = %v, wantErr %v", tt.in, err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			n, _ := p.Number()
			if p.SupportsPorts() != tt.ports || n != tt.number || p.IsNum != tt.isNumber {
				t.Errorf("%s: ports %v number %d isNum %v", tt.in, p.SupportsPorts(), n, p.IsNum)
			}
			if b, _ := json.Marshal(p); string(b) != tt.out {
				t.Errorf("marshal = %s, want %s", b, tt.out)
			}
		})
	}
}

func TestASNumber(t *testing.T) {
	for in, want := range map[string]ASNumber{`64512`: 64512, `"64512"`: 64512, `"1.10"`: 65546, `4294967295`: 4294967295} {
		var a ASNumber
		if err := json.Unmarshal([]byte(in), &a); err != nil || a != want {
			t.Errorf("unmarshal %s = %d, %v; want %d", in, a, err, want)
		}
		if b, _ := json.Marshal(a); string(b) != want.String() {
			t.Errorf("marshal %d = %s", a, b)
		}
	}
	for _, in := range []string{`"AS1"`, `4294967296`, `"1.70000"`, `-1`} {
		var a ASNumber
		if err := json.Unmarshal([]byte(in), &a); err == nil {
			t.Errorf("unmarshal %s succeeded (%d)", in, a)
		}
	}
}
