package nft

import (
	"fmt"
	"maps"
	"slices"
)

// Merge adds o's chains, sets and maps to t, for applying tables rendered separately
// (policy and services) in one transaction. It fails, changing nothing, when a name is
// in both. The objects are shared, not copied: neither table may be modified afterwards.
func (t *Table) Merge(o *Table) error {
	if o == nil {
		return nil
	}
	for _, name := range slices.Sorted(maps.Keys(o.Chains)) {
		if _, ok := t.Chains[name]; ok {
			return fmt.Errorf("merge nftables tables: chain %s is in both", name)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(o.Sets)) {
		if _, ok := t.Sets[name]; ok {
			return fmt.Errorf("merge nftables tables: set %s is in both", name)
		}
	}
	maps.Copy(t.Chains, o.Chains)
	maps.Copy(t.Sets, o.Sets)
	return nil
}
