package nft

import (
	"fmt"
	"crypto/sha256"
	"encoding/hex"
)

// Fixed object names. None is an nft keyword (vmap, map, set, type, ...).
const (
	ChainForwardFrom = "forward-from"
	ChainForwardTo   = "forward-to"
	ChainInput       = "input-from"
	MapFromWorkload  = "from-wl"
	MapToWorkload    = "to-wl"
)

// hashName derives a dataplane name from a canonical string: prefix + 16 hex digits of
// its SHA-256. Deterministic, short (well under nft's 256-byte limit) and made only of
// characters nft accepts in identifiers.
func hashName(prefix, canonical string) string {
	sum := sha256.Sum256([]byte(canonical))
	return prefix + hex.EncodeToString(sum[:8])
}

// Direction-specific prefixes: "to" chains hold ingress policy (traffic to the
// endpoint), "fr" chains egress policy (traffic from it).
func endpointChain(dir direction, endpoint string) string {
	return hashName("wl-"+dir.short+"-", "workload|"+endpoint)
}

func policyChain(dir direction, id string) string {
	return hashName("po-"+dir.short+"-", "policy|"+id)
}

func profileChain(dir direction, name string) string {
	return hashName("pr-"+dir.short+"-", "profile|"+name)
}

func addrSetName(fam int, id string, interval bool) string {
	kind := "s"
	if interval {
		kind = "c"
	}
	return hashName(fmt.Sprintf("%s%d-", kind, fam), "ipset|"+id)
}

func namedPortSetName(fam int, id string) string {
	if fam == 4 {
		return hashName("n4-", "namedport|"+id)
	}
	return hashName("n6-", "namedport|"+id)
}
