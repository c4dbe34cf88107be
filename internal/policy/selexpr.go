package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/selector"
)

// nsMode is how an expression constrains the namespace of a member.
type nsMode uint8

const (
	nsAny    nsMode = iota // no constraint
	nsScope                // member's namespace == scope
	nsAll                  // any namespaced member (namespaceSelector: all())
	nsGlobal               // non-namespaced members only (namespaceSelector: global())
	nsSel                  // namespaced member whose namespace labels match nsSel
)

// selExpr is what one selector IP set (or a policy's endpoint selection) means: Felix's
// AND of a selector with its namespace and service-account scope. Members are endpoints and
// network sets.
type selExpr struct {
	sel     *selector.Selector // nil: no label constraint
	mode    nsMode
	scope   string
	nsSel   *selector.Selector
	saSel   *selector.Selector
	saNames []string
	key     string
	// ownKeys are the labels read outside the namespace selector (nsindex.go).
	ownKeys []string
	// readsNode: the selector names model.LabelKubernetesNode (it may select node sets).
	readsNode bool
}

// identity is what an expression is evaluated against.
type identity struct {
	labels    selector.Map // own + built-in + inherited profile labels
	namespace string
	sa        string
	// nsPure is set when the pcns.* labels are exactly the namespace's (nsindex.go).
	nsPure bool
	// node is set on a Kubernetes Node's network set: only expressions that read
	// model.LabelKubernetesNode select it, so no Calico selector changes meaning.
	node bool
}

// prefixed views labels under a prefix: Get(k) is labels[prefix+k].
type prefixed struct {
	m      selector.Map
	prefix string
}

func (p prefixed) Get(k string) (string, bool) {
	v, ok := p.m[p.prefix+k]
	return v, ok
}

func (x *selExpr) matches(id *identity) bool {
	if id.node && !x.readsNode {
		return false
	}
	switch x.mode {
	case nsScope:
		if id.namespace != x.scope {
			return false
		}
	case nsAll:
		if id.namespace == "" {
			return false
		}
	case nsGlobal:
		if id.namespace != "" {
			return false
		}
	case nsSel:
		if id.namespace == "" || !x.nsSel.Matches(prefixed{id.labels, model.PrefixNamespaceLabel}) {
			return false
		}
	}
	if x.saSel != nil && (id.sa == "" || !x.saSel.Matches(prefixed{id.labels, model.PrefixServiceAccountLabel})) {
		return false
	}
	if len(x.saNames) > 0 && !slices.Contains(x.saNames, id.sa) {
		return false
	}
	return x.sel == nil || x.sel.Matches(id.labels)
}

// exprSpec is the uncompiled form of a selExpr.
type exprSpec struct {
	sel       string
	namespace string // the policy's namespace: scope when no namespace selector is given
	nsSel     string
	hasNsSel  bool
	saSel     string
	saNames   []string
}

// compileExpr parses the parts of an expression. Any parse error is returned (the caller fails
// closed).
func compileExpr(s exprSpec) (*selExpr, error) {
	x := &selExpr{}
	var err error
	if strings.TrimSpace(s.sel) != "" {
		if x.sel, err = selector.Parse(s.sel); err != nil {
			return nil, fmt.Errorf("parse selector: %w", err)
		}
		if x.sel.IsAll() {
			x.sel = nil
		}
	}
	switch {
	case s.hasNsSel:
		ns, err := selector.Parse(s.nsSel)
		if err != nil {
			return nil, fmt.Errorf("parse namespaceSelector: %w", err)
		}
		switch {
		case ns.IsAll():
			x.mode = nsAll
		case ns.String() == "global()":
			x.mode = nsGlobal
		default:
			x.mode, x.nsSel = nsSel, ns
		}
	case s.namespace != "":
		x.mode, x.scope = nsScope, s.namespace
	}
	if strings.TrimSpace(s.saSel) != "" {
		if x.saSel, err = selector.Parse(s.saSel); err != nil {
			return nil, fmt.Errorf("parse serviceAccounts selector: %w", err)
		}
	}
	if len(s.saNames) > 0 {
		x.saNames = slices.Clone(s.saNames)
		slices.Sort(x.saNames)
		x.saNames = slices.Compact(x.saNames)
	}
	x.key = x.canonical()
	if x.sel != nil {
		x.ownKeys = x.sel.LabelKeys()
		x.readsNode = slices.Contains(x.ownKeys, model.LabelKubernetesNode)
	}
	if x.saSel != nil {
		for _, k := range x.saSel.LabelKeys() {
			x.ownKeys = append(x.ownKeys, model.PrefixServiceAccountLabel+k)
		}
	}
	return x, nil
}

// canonical is the expression's canonical text, the source of its IP set ID.
func (x *selExpr) canonical() string {
	var parts []string
	if x.sel != nil {
		parts = append(parts, x.sel.String())
	}
	switch x.mode {
	case nsScope:
		parts = append(parts, model.LabelNamespace+" == "+strconv.Quote(x.scope))
	case nsAll:
		parts = append(parts, "has("+model.LabelNamespace+")")
	case nsGlobal:
		parts = append(parts, "!has("+model.LabelNamespace+")")
	case nsSel:
		parts = append(parts, "namespace("+x.nsSel.String()+")")
	}
	if x.saSel != nil {
		parts = append(parts, "serviceaccount("+x.saSel.String()+")")
	}
	if len(x.saNames) > 0 {
		q := make([]string, len(x.saNames))
		for i, n := range x.saNames {
			q[i] = strconv.Quote(n)
		}
		parts = append(parts, model.LabelServiceAccount+" in {"+strings.Join(q, ", ")+"}")
	}
	if len(parts) == 0 {
		return "all()"
	}
	return strings.Join(parts, " && ")
}

// labelKeys lists every label the expression's result depends on (the namespace and
// service account count as their built-in labels).
func (x *selExpr) labelKeys() []string {
	var keys []string
	if x.sel != nil {
		keys = append(keys, x.sel.LabelKeys()...)
	}
	if x.mode != nsAny {
		keys = append(keys, model.LabelNamespace)
	}
	if x.nsSel != nil {
		for _, k := range x.nsSel.LabelKeys() {
			keys = append(keys, model.PrefixNamespaceLabel+k)
		}
	}
	if x.saSel != nil {
		keys = append(keys, model.LabelServiceAccount)
		for _, k := range x.saSel.LabelKeys() {
			keys = append(keys, model.PrefixServiceAccountLabel+k)
		}
	}
	if len(x.saNames) > 0 {
		keys = append(keys, model.LabelServiceAccount)
	}
	return keys
}

// term is an index key: a label and value, or a label with any value (any true).
type term struct {
	key, value string
	any        bool
}

// indexTerms returns terms every member of the expression must carry (possibly none). The
// label index files the expression under the most selective one, so that it is evaluated
// only against members carrying it.
func (x *selExpr) indexTerms() []term {
	var out []term
	if x.sel != nil {
		out = requiredTerms(x.sel.Root(), "", out)
	}
	switch x.mode {
	case nsScope:
		out = append(out, term{key: model.LabelNamespace, value: x.scope})
	case nsAll, nsSel:
		out = append(out, term{key: model.LabelNamespace, any: true})
	}
	if x.mode == nsSel {
		out = requiredTerms(x.nsSel.Root(), model.PrefixNamespaceLabel, out)
	}
	if len(x.saNames) == 1 {
		out = append(out, term{key: model.LabelServiceAccount, value: x.saNames[0]})
	} else if len(x.saNames) > 1 || x.saSel != nil {
		out = append(out, term{key: model.LabelServiceAccount, any: true})
	}
	return out
}

// requiredTerms appends the terms a label set must carry to match n.
func requiredTerms(n selector.Node, prefix string, out []term) []term {
	switch n := n.(type) {
	case *selector.Compare:
		if n.Op == selector.OpEqual {
			return append(out, term{key: prefix + n.Key, value: n.Value})
		}
		if n.Op != selector.OpNotEqual {
			return append(out, term{key: prefix + n.Key, any: true})
		}
	case *selector.In:
		if !n.Negate && len(n.Values) == 1 {
			return append(out, term{key: prefix + n.Key, value: n.Values[0]})
		}
		if !n.Negate {
			return append(out, term{key: prefix + n.Key, any: true})
		}
	case *selector.Has:
		return append(out, term{key: prefix + n.Key, any: true})
	case *selector.And:
		for _, t := range n.Terms {
			out = requiredTerms(t, prefix, out)
		}
	}
	return out
}

// setID derives a dataplane-safe ID from a canonical expression.
func setID(prefix, expr string) string {
	sum := sha256.Sum256([]byte(expr))
	return prefix + hex.EncodeToString(sum[:8])
}
