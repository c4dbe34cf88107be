package nft

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
)

// Fixed object names. None is an nft keyword (vmap, map, set, type, ...).
const (
	ChainForwardFrom = "forward-from"
	ChainForwardTo   = "forward-to"
	ChainInput       = "input-from"
	ChainFlowForward = "flow-forward"
	ChainFlowInput   = "flow-input"
	ChainFlowOutput  = "flow-output"
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

// policyChain names a policy's chain; untracked (doNotTrack) use renders Allow as
// notrack + accept, so it is a different chain.
func policyChain(dir direction, id string, untracked bool) string {
	if untracked {
		return hashName("pu-"+dir.short+"-", "policy-untracked|"+id)
	}
	return hashName("po-"+dir.short+"-", "policy|"+id)
}

// hostChain names a host endpoint's chain for one stage and direction.
func hostChain(stage string, dir direction, endpoint string) string {
	return hashName("he-"+stage[:2]+"-"+dir.short+"-", "host|"+stage+"|"+endpoint)
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
