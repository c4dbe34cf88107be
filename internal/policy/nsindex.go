package policy

import (
	"strings"

	"github.com/trellisnet/trellis/internal/model"
)

// Namespace label changes.
//
// A namespace's labels reach its members as pcns.<key> labels. Most members see exactly
// the namespace's labels under that prefix (they are "namespace-pure": no other label
// layer carries a pcns.* key), so for them a namespace selector's answer is the answer
// for the namespace. relabelNamespace uses this: it evaluates each namespace selector
// that depends on a changed key once against the namespace (old and new labels), and
// touches a pure member only for the expressions whose namespace answer flipped (to
// false: the member leaves; to true: the member is evaluated if it carries the
// expression's index term). Expressions that read a changed key elsewhere (a pcns.*
// label in the endpoint selector) are evaluated against each pure member. Members that
// are not pure go through upsert as any other member change. The result equals a
// re-evaluation of every expression against every member (tested against Compute).

// fileNSKeys files (add) or unfiles e in nsKeyUsers under every pcns.* key it depends on.
func (ix *labelIndex) fileNSKeys(e *exprEntry, add bool) {
	for _, k := range e.keys {
		if !strings.HasPrefix(k, model.PrefixNamespaceLabel) {
			continue
		}
		if add {
			addTo(ix.nsKeyUsers, k, e)
		} else {
			removeFrom(ix.nsKeyUsers, k, e)
		}
	}
}

// relabelNamespace applies a change of one namespace's pcns.* labels (old to now; changed
// are the keys whose value or presence differs) to its pure members.
func (ix *labelIndex) relabelNamespace(old, now map[string]string, changed []string, pure []*member) {
	for _, m := range pure {
		for _, k := range changed {
			if v, ok := m.id.labels[k]; ok {
				ix.dropLabel(m, k, v)
				delete(m.id.labels, k) // the member owns its label map
			}
			if v, ok := now[k]; ok {
				ix.addLabel(m, k, v)
				m.id.labels[k] = v
			}
		}
	}
	isChanged := make(map[string]bool, len(changed))
	for _, k := range changed {
		isChanged[k] = true
	}
	var flipped, other []*exprEntry
	seen := map[*exprEntry]bool{}
	answers := map[string][2]bool{} // namespace selector -> (old, new) answer
	for _, k := range changed {
		for e := range ix.nsKeyUsers[k] {
			if seen[e] {
				continue
			}
			seen[e] = true
			if !e.x.nsOnly(isChanged) {
				other = append(other, e)
				continue
			}
			key := e.x.nsSel.String()
			a, ok := answers[key]
			if !ok {
				a = [2]bool{e.x.nsSel.Matches(prefixed{old, model.PrefixNamespaceLabel}),
					e.x.nsSel.Matches(prefixed{now, model.PrefixNamespaceLabel})}
				answers[key] = a
			}
			if a[0] != a[1] {
				flipped = append(flipped, e)
			}
		}
	}
	for _, e := range flipped {
		for _, m := range pure {
			ix.reevalFlipped(e, m)
		}
	}
	for _, e := range other {
		for _, m := range pure {
			ix.eval(e, m)
		}
	}
}

// reevalFlipped updates m in e after e's namespace selector changed its answer for m's
// namespace: a member can only join if it carries e's index term, and one that is in e
// and is evaluated again leaves if the answer became false. The member's namespace
// labels are already the new ones, so only a term of its own labels can rule it out.
func (ix *labelIndex) reevalFlipped(e *exprEntry, m *member) {
	if _, in := e.members[m]; !in && e.hasOwnTerm && !m.carries(e.ownTerm) {
		return
	}
	ix.eval(e, m)
}

// isOwnTerm reports whether t is about a member's own labels rather than its namespace.
func isOwnTerm(t term) bool {
	return t.key != model.LabelNamespace && !strings.HasPrefix(t.key, model.PrefixNamespaceLabel)
}

// carries reports whether m has the label term t.
func (m *member) carries(t term) bool {
	v, ok := m.id.labels[t.key]
	return ok && (t.any || v == t.value)
}

// nsOnly reports whether x reads the changed keys only through its namespace selector,
// so that for a namespace-pure member its answer depends on them only through the
// namespace's answer.
func (x *selExpr) nsOnly(changed map[string]bool) bool {
	if x.mode != nsSel {
		return false
	}
	for _, k := range x.ownKeys {
		if changed[k] {
			return false
		}
	}
	return true
}

// changedKeys lists the keys whose value or presence differs between a and b, in no
// particular order.
func changedKeys(a, b map[string]string) []string {
	var out []string
	for k, v := range a {
		if nv, ok := b[k]; !ok || nv != v {
			out = append(out, k)
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			out = append(out, k)
		}
	}
	return out
}

// hasPrefixedKey reports whether any key of l starts with prefix.
func hasPrefixedKey(l map[string]string, prefix string) bool {
	for k := range l {
		if strings.HasPrefix(k, prefix) {
			return true
		}
	}
	return false
}
