package testnet

import (
	"os/exec"
	"strings"
	"testing"
)

func TestNftDump(t *testing.T) {
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("nft not installed")
	}
	n := New(t, Config{Pods: 0})
	// The same content built in different orders (so other handles and element order),
	// once with counter values.
	LoadNft(t, n.Host, `table inet trl-a {
	set s { type ipv4_addr; elements = { 192.0.2.1, 192.0.2.2 }; }
	set dyn-x { type ipv4_addr; elements = { 198.51.100.1 }; }
	chain c { ip saddr @s counter accept; drop; }
}`)
	LoadNft(t, n.Host, `table inet trl-b {
	chain pad { accept; }
	set dyn-x { type ipv4_addr; elements = { 198.51.100.9 }; }
	set s { type ipv4_addr; elements = { 192.0.2.2, 192.0.2.1 }; }
	chain c { ip saddr @s counter packets 5 bytes 500 accept; drop; }
}
delete chain inet trl-b pad`)
	LoadNft(t, n.Host, `table inet trl-c {
	set s { type ipv4_addr; elements = { 192.0.2.1, 192.0.2.2 }; }
	set dyn-x { type ipv4_addr; elements = { 198.51.100.1 }; }
	chain c { drop; ip saddr @s counter accept; }
}`)
	a, b, c := NftDump(t, n.Host, "trl-a", "dyn-"), NftDump(t, n.Host, "trl-b", "dyn-"), NftDump(t, n.Host, "trl-c", "dyn-")
	if a != b {
		t.Errorf("equal tables dump differently:\n%s\nvs\n%s", a, b)
	}
	if a == c {
		t.Errorf("rules in another order dump the same:\n%s", a)
	}
	for _, want := range []string{"192.0.2.1", `"name":"c"`, `"name":"s"`} {
		if !strings.Contains(a, want) {
			t.Errorf("dump lacks %s:\n%s", want, a)
		}
	}
	if strings.Contains(a, "handle") || strings.Contains(a, "trl-a") || strings.Contains(a, "198.51.100.1") {
		t.Errorf("dump keeps handles, the table name or dropped elements:\n%s", a)
	}
	if NftDump(t, n.Host, "trl-a") == NftDump(t, n.Host, "trl-b") {
		t.Error("without a drop prefix, sets with other elements dump the same")
	}
}
