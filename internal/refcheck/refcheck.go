package refcheck

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/store"
)

// Mode is what is done with the documents.
type Mode int

// Modes: Write creates or updates (apply, replace), Create only creates, Delete deletes.
const (
	Write Mode = iota
	Create
	Delete
)

// Checks of a file set against itself and the datastore that no single object's validation
// can make, run by `trellis apply|create|replace|delete` after loading and before any write
// (so that nothing is written when one fails) and by the admission webhook:
//   - a policy's tier exists (built in, a Tier of the file set in any order, or stored);
//   - a new IPPool's CIDR overlaps no other pool's (stored or earlier in the file set), and
//     an existing pool's CIDR and blockSize are not changed (Calico refuses both);
//   - a deleted Tier has no policies left (the datastore itself does not enforce this).

var tierPath = field.NewPath("spec", "tier")

// Check returns model.Problems naming file, document and field, or nil.
func Check(ctx context.Context, st store.Store, mode Mode, docs []model.Document) error {
	var problems model.Problems
	var err error
	if mode == Delete {
		problems, err = tierDeleteProblems(ctx, st, docs)
	} else {
		var more model.Problems
		if problems, err = tierRefProblems(ctx, st, docs); err == nil {
			more, err = poolProblems(ctx, st, mode, docs)
			problems = append(problems, more...)
		}
	}
	if err != nil {
		return err
	}
	if len(problems) > 0 {
		return problems
	}
	return nil
}

// problemAt is a problem of document d at path.
func problemAt(d model.Document, path *field.Path, e *field.Error) model.Problem {
	return model.Problem{Source: d.Source, Index: d.Index, Item: d.Item, Line: d.LineOf(path.String()),
		Ref: d.Ref(), Message: e.Error()}
}

// fileTiers are the tiers the file set gives.
func fileTiers(docs []model.Document) map[string]bool {
	tiers := map[string]bool{}
	for _, d := range docs {
		if t, ok := d.Object.(*model.Tier); ok {
			tiers[t.Name] = true
		}
	}
	return tiers
}

// missingTiers are the policies whose tier is neither built in nor in known.
func missingTiers(docs []model.Document, known map[string]bool) []model.Document {
	var out []model.Document
	for _, d := range docs {
		if tier, ok := model.PolicyTier(d.Object); ok && !model.IsBuiltinTier(tier) && !known[tier] {
			out = append(out, d)
		}
	}
	return out
}

// tierRefProblems: every policy's tier must exist. The datastore is asked only when the
// file set leaves a tier unaccounted for.
func tierRefProblems(ctx context.Context, st store.Store, docs []model.Document) (model.Problems, error) {
	known := fileTiers(docs)
	missing := missingTiers(docs, known)
	if len(missing) == 0 {
		return nil, nil
	}
	res, err := st.List(ctx, model.KindTier, store.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list tiers: %w", err)
	}
	for _, o := range res.Items {
		known[o.GetName()] = true
	}
	var problems model.Problems
	for _, d := range missingTiers(missing, known) {
		tier, _ := model.PolicyTier(d.Object)
		p := problemAt(d, tierPath, field.NotFound(tierPath, tier))
		p.Message += fmt.Sprintf(": tier %s does not exist", tier)
		problems = append(problems, p)
	}
	return problems, nil
}

// TierWarnings are the offline (validate) form of the tier check: a policy whose tier is
// neither built in nor given in the file set must exist in the datastore when applied.
func TierWarnings(docs []model.Document) []model.Problem {
	var out []model.Problem
	for _, d := range missingTiers(docs, fileTiers(docs)) {
		tier, _ := model.PolicyTier(d.Object)
		p := problemAt(d, tierPath, field.NotFound(tierPath, tier))
		p.Message += fmt.Sprintf(": tier %s is not in these files: it must exist in the datastore when applied", tier)
		out = append(out, p)
	}
	return out
}

// tierDeleteProblems refuses to delete a Tier that still has policies, unless the file set
// deletes those too.
func tierDeleteProblems(ctx context.Context, st store.Store, docs []model.Document) (model.Problems, error) {
	deleted := map[model.Key]bool{}
	var tiers []model.Document
	for _, d := range docs {
		if k, ok := model.KeyOf(d.Object); ok {
			deleted[k] = true
		}
		if _, ok := d.Object.(*model.Tier); ok {
			tiers = append(tiers, d)
		}
	}
	if len(tiers) == 0 {
		return nil, nil
	}
	byTier, err := policiesByTier(ctx, st)
	if err != nil {
		return nil, err
	}
	var problems model.Problems
	for _, d := range tiers {
		var left []string
		for _, k := range byTier[d.Object.GetName()] {
			if !deleted[k] {
				left = append(left, k.String())
			}
		}
		if len(left) > 0 {
			problems = append(problems, model.Problem{Source: d.Source, Index: d.Index, Item: d.Item, Line: d.Line,
				Ref: d.Ref(), Message: tierNotEmpty(d.Object.GetName(), left).Error()})
		}
	}
	return problems, nil
}

// CheckTierDeletes is tierDeleteProblems for `delete tier NAME...`.
func CheckTierDeletes(ctx context.Context, st store.Store, names []string) error {
	byTier, err := policiesByTier(ctx, st)
	if err != nil {
		return err
	}
	var msgs []string
	for _, n := range names {
		if keys := byTier[n]; len(keys) > 0 {
			left := make([]string, len(keys))
			for i, k := range keys {
				left[i] = k.String()
			}
			msgs = append(msgs, tierNotEmpty(n, left).Error())
		}
	}
	if len(msgs) > 0 {
		return fmt.Errorf("%s\nnothing was deleted", strings.Join(msgs, "\n"))
	}
	return nil
}

func tierNotEmpty(tier string, policies []string) error {
	return fmt.Errorf("tier %s still has %d %s: %s (delete them first)", tier, len(policies),
		pluralWord(len(policies), "policy", "policies"), strings.Join(policies, ", "))
}

func pluralWord(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// policiesByTier lists the stored policies of every kind with a tier, by tier, sorted.
func policiesByTier(ctx context.Context, st store.Store) (map[string][]model.Key, error) {
	out := map[string][]model.Key{}
	for _, k := range model.PolicyKindsWithTier() {
		res, err := st.List(ctx, k, store.ListOptions{})
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", k.Plural, err)
		}
		for _, o := range res.Items {
			tier, _ := model.PolicyTier(o)
			if key, ok := model.KeyOf(o); ok {
				out[tier] = append(out[tier], key)
			}
		}
	}
	for _, keys := range out {
		sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
	}
	return out, nil
}

var (
	cidrPath      = field.NewPath("spec", "cidr")
	blockSizePath = field.NewPath("spec", "blockSize")
)

// poolProblems checks the IPPools of the file set as Calico does on create and update: a
// new pool's CIDR must overlap no other pool's (stored, or given earlier in the file set);
// an existing pool's CIDR and blockSize cannot be modified. Overlaps among pools already
// stored are not reported (re-applying them changes nothing).
func poolProblems(ctx context.Context, st store.Store, mode Mode, docs []model.Document) (model.Problems, error) {
	var pools []model.Document
	for _, d := range docs {
		if _, ok := d.Object.(*model.IPPool); ok {
			pools = append(pools, d)
		}
	}
	if len(pools) == 0 {
		return nil, nil
	}
	res, err := st.List(ctx, model.KindIPPool, store.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list ippools: %w", err)
	}
	stored := map[string]*model.IPPool{}
	for _, o := range res.Items {
		if p, ok := o.(*model.IPPool); ok {
			stored[p.Name] = p
		}
	}
	others := map[string]string{} // pool name -> CIDR, stored then earlier in the file set
	for n, p := range stored {
		others[n] = p.Spec.CIDR
	}
	var problems model.Problems
	for _, d := range pools {
		pool := d.Object.(*model.IPPool)
		if old, exists := stored[pool.Name]; exists {
			if mode != Create {
				problems = append(problems, poolUpdateProblems(d, old)...)
			}
		} else {
			problems = append(problems, poolOverlapProblems(d, others)...)
		}
		others[pool.Name] = pool.Spec.CIDR
	}
	return problems, nil
}

// poolOverlapProblems: a new pool against every other pool, in name order.
func poolOverlapProblems(d model.Document, others map[string]string) model.Problems {
	pool := d.Object.(*model.IPPool)
	names := make([]string, 0, len(others))
	for n := range others {
		names = append(names, n)
	}
	sort.Strings(names)
	var problems model.Problems
	for _, n := range names {
		if n == pool.Name {
			continue
		}
		if overlap, err := model.CIDRsOverlap(pool.Spec.CIDR, others[n]); err == nil && overlap {
			problems = append(problems, problemAt(d, cidrPath, field.Invalid(cidrPath, pool.Spec.CIDR,
				fmt.Sprintf("overlaps IPPool %s (%s)", n, others[n]))))
		}
	}
	return problems
}

// poolUpdateProblems: Calico refuses to change an existing pool's CIDR or blockSize (its
// blocks and addresses are carved from them); make a new pool and disable this one instead.
func poolUpdateProblems(d model.Document, old *model.IPPool) model.Problems {
	pool := d.Object.(*model.IPPool)
	var problems model.Problems
	if !model.SameCIDR(pool.Spec.CIDR, old.Spec.CIDR) {
		problems = append(problems, problemAt(d, cidrPath, field.Invalid(cidrPath, pool.Spec.CIDR,
			fmt.Sprintf("an IPPool's cidr cannot be modified (IPPool %s has %s): create a new pool and disable this one", pool.Name, old.Spec.CIDR))))
	}
	if old.Spec.BlockSize != 0 && pool.Spec.BlockSize != old.Spec.BlockSize {
		problems = append(problems, problemAt(d, blockSizePath, field.Invalid(blockSizePath, pool.Spec.BlockSize,
			fmt.Sprintf("an IPPool's blockSize cannot be modified (IPPool %s has %d): create a new pool and disable this one", pool.Name, old.Spec.BlockSize))))
	}
	return problems
}
