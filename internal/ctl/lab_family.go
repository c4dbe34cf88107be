package ctl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"

	"github.com/trellisnet/trellis/internal/lab"
	"github.com/trellisnet/trellis/internal/policy"
	"github.com/trellisnet/trellis/internal/store"
)

// labMatrixResult is one `lab matrix` result: a `trellis policy matrix` result plus the
// address family (4 or 6) the packets used. Without "family" it has exactly that
// command's shape, so the IPv4 results compare with `policy matrix -o json` directly.
type labMatrixResult struct {
	matrixResult
	Family int `json:"family,omitempty"`
}

// familyVerdict is the calculation's verdict for from -> to with addresses of the family
// (0: IPv4 first, as `policy matrix` picks them). A pair without addresses of the family
// has no verdict: "unknown".
func (s *scenario) familyVerdict(from, to string, spec traceSpec, family int) string {
	if family == 0 {
		res, err := s.trace(from, to, spec)
		if err != nil {
			return "unknown"
		}
		return verdictWord(res.Verdict)
	}
	fa, err := s.resolve(from)
	if err != nil {
		return "unknown"
	}
	ta, err := s.resolve(to)
	if err != nil {
		return "unknown"
	}
	a, aok := lab.AddrOfFamily(fa, family)
	b, bok := lab.AddrOfFamily(ta, family)
	if !aok || !bok {
		return "unknown"
	}
	return verdictWord(policy.Trace(s.state, policy.Packet{Src: a, Dst: b, Proto: spec.proto, Port: spec.port}).Verdict)
}

func verdictWord(a policy.Action) string {
	if a == policy.ActionAllow {
		return "allow"
	}
	return "deny"
}

// compareFamilyMatrix computes the calculation's verdict for every probed pair with the
// probe's address family and reports every pair (other than a pod with itself) where the
// packets disagree.
func compareFamilyMatrix(ctx context.Context, o *Options, open func(context.Context) (store.Store, error),
	probed []labMatrixResult, w, stderr io.Writer) error {
	lo := *o
	lo.OpenStore = open
	sc, err := (&policySource{}).load(ctx, &lo, nil, stderr)
	if err != nil {
		return fmt.Errorf("compare: calculate the matrix: %w", err)
	}
	specs := map[string]traceSpec{}
	var diffs []string
	for _, r := range probed {
		if r.From == r.To {
			continue
		}
		spec, ok := specs[r.Port]
		if !ok {
			if spec, err = parsePortSpec(r.Port); err != nil {
				return fmt.Errorf("compare %s -> %s: %w", r.From, r.To, err)
			}
			specs[r.Port] = spec
		}
		if v := sc.familyVerdict(r.From, r.To, spec, r.Family); v != r.Verdict {
			fam := ""
			if r.Family != 0 {
				fam = fmt.Sprintf(" IPv%d", r.Family)
			}
			diffs = append(diffs, fmt.Sprintf("%s -> %s %s%s: packets %s, calculation %s", r.From, r.To, r.Port, fam, r.Verdict, v))
		}
	}
	if len(diffs) == 0 {
		fmt.Fprintln(w, "compare: no disagreement between packets and calculation")
		return nil
	}
	fmt.Fprintf(w, "compare: %d disagreements:\n", len(diffs))
	for _, d := range diffs {
		fmt.Fprintln(w, "  "+d)
	}
	return errors.New("compare: the packets disagree with the calculation")
}

// matrixFamilies resolves `lab matrix --family` for the selected pods: "" means all
// when every pod has both an IPv4 and an IPv6 address, else 4. An explicit family every
// pod lacks an address of is an error naming the pod.
func matrixFamilies(flag string, names []string, addrs map[string][]netip.Addr) ([]int, error) {
	if flag == "" {
		both := len(names) > 0
		for _, n := range names {
			_, v4 := lab.AddrOfFamily(addrs[n], 4)
			_, v6 := lab.AddrOfFamily(addrs[n], 6)
			both = both && v4 && v6
		}
		if both {
			return []int{4, 6}, nil
		}
		return []int{4}, nil
	}
	fams, err := lab.ParseFamilies(flag)
	if err != nil {
		return nil, UsageError{Err: err}
	}
	for _, f := range fams {
		for _, n := range names {
			if _, ok := lab.AddrOfFamily(addrs[n], f); !ok {
				return nil, fmt.Errorf("matrix: pod %s has no IPv%d address", n, f)
			}
		}
	}
	return fams, nil
}
