package testnet

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"sort"
	"strings"
	"testing"

	"github.com/trellisnet/trellis/internal/netns"
)

// NftDump lists the inet table in namespace ns from the kernel (`nft -j list table`)
// and returns it normalised, one JSON object a line, so two tables built along different
// paths compare equal when they hold the same content: no handles, no table name, no
// counter values, set elements sorted, objects sorted by type and name with rules kept in
// chain order. The elements of every set or map whose name starts with one of
// dropElemPrefixes are left out (for sets the dataplane fills at run time). It fails t
// when nft fails or prints something that is not JSON.
func NftDump(t testing.TB, ns, table string, dropElemPrefixes ...string) string {
	t.Helper()
	var out []byte
	err := netns.Do(ns, func() error {
		var err error
		out, err = exec.Command("nft", "-j", "list", "table", "inet", table).Output()
		return err
	})
	if err != nil {
		t.Fatalf("list table %s in %s: %v", table, ns, err)
	}
	var doc struct {
		Nftables []map[string]map[string]any `json:"nftables"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatalf("parse nft json of table %s in %s: %v", table, ns, err)
	}
	type obj struct{ key, text string }
	var objs []obj
	for _, o := range doc.Nftables {
		for typ, m := range o {
			if typ == "metainfo" || typ == "table" {
				continue
			}
			name, _ := m["name"].(string)
			for _, p := range dropElemPrefixes {
				if strings.HasPrefix(name, p) {
					delete(m, "elem")
				}
			}
			normalizeNft(m)
			key := typ + " " + fmt.Sprint(m["name"])
			if typ == "rule" {
				key = "rule " + fmt.Sprint(m["chain"])
			}
			b, _ := json.Marshal(m)
			objs = append(objs, obj{key, string(b)})
		}
	}
	sort.SliceStable(objs, func(i, j int) bool { return objs[i].key < objs[j].key })
	var b strings.Builder
	for _, o := range objs {
		b.WriteString(o.text + "\n")
	}
	return b.String()
}

// normalizeNft strips what differs between equal tables (handles, the table name,
// counter values) and sorts set elements, in place, at every depth of v.
func normalizeNft(v any) {
	switch x := v.(type) {
	case map[string]any:
		delete(x, "handle")
		delete(x, "table")
		if _, ok := x["counter"]; ok {
			x["counter"] = nil
		}
		if el, ok := x["elem"].([]any); ok {
			sort.Slice(el, func(i, j int) bool {
				a, _ := json.Marshal(el[i])
				b, _ := json.Marshal(el[j])
				return string(a) < string(b)
			})
		}
		for _, c := range x {
			normalizeNft(c)
		}
	case []any:
		for _, c := range x {
			normalizeNft(c)
		}
	}
}

// LoadNft feeds script to `nft -f -` inside namespace ns (by name) and fails t on an
// error. Tables made this way live in the test's own namespace and go with it.
func LoadNft(t testing.TB, ns, script string) {
	t.Helper()
	err := netns.Do(ns, func() error {
		cmd := exec.Command("nft", "-f", "-")
		cmd.Stdin = strings.NewReader(script)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%w: %s", err, out)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("load nft script in %s: %v", ns, err)
	}
}
