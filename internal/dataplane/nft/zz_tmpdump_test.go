package nft

import (
	"net/netip"
	"os"
	"testing"

	"sigs.k8s.io/knftables"
)

func TestZZDumpFull(t *testing.T) {
	if os.Getenv("TRL_DUMP") == "" {
		t.Skip()
	}
	want := Render(Config{}, benchState(10000, 100, false, netip.Addr{}, 0))
	nft, _ := knftables.New(knftables.InetFamily, "trl-dump")
	have := Existing{Chains: map[string]bool{}, Sets: map[string]bool{}, Maps: map[string]bool{}}
	for n := range want.Chains {
		have.Chains[n] = true
	}
	for n, s := range want.Sets {
		if s.Map {
			have.Maps[n] = true
		} else {
			have.Sets[n] = true
		}
	}
	tx := nft.NewTransaction()
	planFull(tx, want, have, true)
	os.WriteFile("/tmp/n/resync-new.nft", []byte(tx.String()), 0o644)
	tx = nft.NewTransaction()
	tx.Add(&knftables.Table{})
	declare(tx, want, nil)
	os.WriteFile("/tmp/n/declare-all.nft", []byte(tx.String()), 0o644)
}
