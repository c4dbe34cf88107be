package agent

import (
	"encoding/binary"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

// nlMsg builds one nftables netlink message with a single attribute 1.
func nlMsg(typ uint8, family uint8, attr []byte) []byte {
	al := unix.SizeofNlAttr + len(attr)
	b := make([]byte, unix.NLMSG_HDRLEN+4+nlAlign(al))
	binary.NativeEndian.PutUint32(b[0:4], uint32(len(b)))
	binary.NativeEndian.PutUint16(b[4:6], nfnlSubsysNFTables<<8|uint16(typ))
	b[unix.NLMSG_HDRLEN] = family
	a := b[unix.NLMSG_HDRLEN+4:]
	binary.NativeEndian.PutUint16(a[0:2], uint16(al))
	binary.NativeEndian.PutUint16(a[2:4], 1)
	copy(a[4:], attr)
	return b
}

func genMsg(g uint32) []byte {
	return nlMsg(nftMsgNewGen, 0, binary.BigEndian.AppendUint32(nil, g))
}

// TestNFTMonitorParse: a transaction naming the inet table reports its generation, one
// naming another table (or family) does not, and lost messages report every generation
// they may have hidden.
func TestNFTMonitorParse(t *testing.T) {
	var got []uint32
	var clean []uint32
	m := nftMonitor{table: "trellis", changed: func(g uint32) { got = append(got, g) }, clean: func(g uint32) { clean = append(clean, g) }}
	const delRule, delElem = 8, 14
	m.parse(slices.Concat(nlMsg(delRule, nfprotoInet, []byte("trellis\x00")), genMsg(10)))
	m.parse(slices.Concat(nlMsg(delRule, nfprotoInet, []byte("other\x00")), nlMsg(delElem, 2, []byte("trellis\x00")), genMsg(11)))
	m.parse(nlMsg(delElem, nfprotoInet, []byte("trellis\x00")))
	m.parse(genMsg(12))
	m.lost = true
	m.parse(genMsg(15))
	if want := []uint32{10, 12, 13, 14, 15}; !slices.Equal(got, want) {
		t.Fatalf("reported %v, want %v", got, want)
	}
	if want := []uint32{11}; !slices.Equal(clean, want) {
		t.Fatalf("clean %v, want %v (11 touched only another table; 15 followed lost messages)", clean, want)
	}
	got = nil
	m.parse([]byte{1, 2, 3}) // garbage: no report, no panic
	m.parse(genMsg(16))
	if len(got) != 0 {
		t.Fatalf("reported %v for an untouched generation", got)
	}
}
