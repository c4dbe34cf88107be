package model

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// walker converts a YAML node tree into a JSON-ready value while checking it against the Go
// type it will be decoded into: unknown and duplicate fields, wrong scalar types, values that
// the type's own UnmarshalJSON rejects. It records the line of every field path.
type walker struct {
	budget int
	lines  map[string]int
	errs   []walkNote
	warns  []walkNote
	failed bool // budget or depth exhausted: stop reporting
	// fatal is set by problems that leave no usable object (budget, depth); value problems
	// only drop the offending value.
	fatal bool
}

type walkNote struct {
	line int
	path string // field path of the problem ("" for the document)
	msg  string
}

type pair struct {
	key  string
	k, v *yaml.Node
}

func newWalker() *walker { return &walker{budget: maxNodes, lines: map[string]int{}} }

var (
	unmarshalerType = reflect.TypeFor[json.Unmarshaler]()
	felixSpecType   = reflect.TypeFor[FelixConfigurationSpec]()
	felixFieldsType = reflect.TypeFor[felixSpecFields]()
)

func reflectTypeOf(obj Object) reflect.Type {
	t := reflect.TypeOf(obj)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

// fail records a problem with the value at p (nil: the document); the value is dropped.
func (w *walker) fail(n *yaml.Node, p *field.Path, msg string) {
	if w.failed {
		return
	}
	line := 0
	if n != nil {
		line = n.Line
	}
	path := ""
	if p != nil {
		path = p.String()
	}
	w.errs = append(w.errs, walkNote{line: line, path: path, msg: msg})
}

func (w *walker) abort(n *yaml.Node, p *field.Path, msg string) {
	w.fail(n, p, msg)
	w.failed, w.fatal = true, true
}

// resolve follows aliases and charges the budget; nil when the budget is gone.
func (w *walker) resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode; i++ {
		if i > maxDepth {
			w.abort(n, nil, "alias chain too long")
			return nil
		}
		n = n.Alias
	}
	w.budget--
	if w.budget < 0 {
		w.abort(n, nil, "document too large (after alias expansion)")
		return nil
	}
	return n
}

// pairs lists a mapping's key/value pairs, expanding merge keys ("<<"); explicit keys win over
// merged ones. Duplicate keys are reported.
func (w *walker) pairs(n *yaml.Node, p *field.Path) []pair {
	var out []pair
	seen := map[string]*yaml.Node{}
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := w.resolve(n.Content[i]), n.Content[i+1]
		if k == nil {
			return out
		}
		if k.Kind == yaml.ScalarNode && k.Tag == "!!merge" {
			merges = append(merges, v)
			continue
		}
		if k.Kind != yaml.ScalarNode {
			w.fail(k, p, fmt.Sprintf("%s: Invalid value: mapping keys must be strings", pathOrRoot(p)))
			continue
		}
		if prev, dup := seen[k.Value]; dup {
			cp := child(p, k.Value)
			if sameScalar(w.resolve(prev), w.resolve(v)) {
				// Harmless (Calico's own WorkloadEndpoint example repeats `endpoint: eth0`).
				w.warns = append(w.warns, walkNote{line: k.Line, path: cp.String(),
					msg: fmt.Sprintf("%s: duplicate field with the same value, ignored", cp)})
				continue
			}
			w.fail(k, cp, fmt.Sprintf("%s: Duplicate value: %q given twice with different values", pathOrRoot(cp), k.Value))
			continue
		}
		seen[k.Value] = v
		out = append(out, pair{key: k.Value, k: k, v: v})
	}
	for _, m := range merges {
		m = w.resolve(m)
		var srcs []*yaml.Node
		switch {
		case m == nil:
			return out
		case m.Kind == yaml.MappingNode:
			srcs = []*yaml.Node{m}
		case m.Kind == yaml.SequenceNode:
			for _, s := range m.Content {
				srcs = append(srcs, w.resolve(s))
			}
		}
		for _, s := range srcs {
			if s == nil || s.Kind != yaml.MappingNode {
				w.fail(m, p, fmt.Sprintf("%s: Invalid value: a merge key (<<) needs a mapping", pathOrRoot(p)))
				continue
			}
			for _, pr := range w.pairs(s, p) {
				if _, ok := seen[pr.key]; !ok {
					seen[pr.key] = pr.v
					out = append(out, pr)
				}
			}
		}
	}
	return out
}

func sameScalar(a, b *yaml.Node) bool {
	return a != nil && b != nil && a.Kind == yaml.ScalarNode && b.Kind == yaml.ScalarNode &&
		a.Tag == b.Tag && a.Value == b.Value
}

func child(p *field.Path, name string) *field.Path {
	if p == nil {
		return field.NewPath(name)
	}
	return p.Child(name)
}

func pathOrRoot(p *field.Path) string {
	if p == nil {
		return "<document>"
	}
	return p.String()
}

// scalarString returns a scalar's text if n is a string-like scalar.
func (w *walker) scalarString(n *yaml.Node) (string, bool) {
	n = w.resolve(n)
	if n == nil || n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return "", false
	}
	return n.Value, true
}

// typeOf reads apiVersion and kind of an object node.
func (w *walker) typeOf(n *yaml.Node) (apiVersion, kind string) {
	// The first occurrence wins, as in pairs (a later duplicate is reported there).
	seenAPI, seenKind := false, false
	for i := 0; i+1 < len(n.Content); i += 2 {
		switch n.Content[i].Value {
		case "apiVersion":
			if !seenAPI {
				apiVersion, _ = w.scalarString(n.Content[i+1])
				seenAPI = true
			}
		case "kind":
			if !seenKind {
				kind, _ = w.scalarString(n.Content[i+1])
				seenKind = true
			}
		}
	}
	return apiVersion, kind
}

// nameOf reads metadata.namespace and metadata.name, for messages.
func (w *walker) nameOf(n *yaml.Node) (namespace, name string) {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value != "metadata" {
			continue
		}
		m := w.resolve(n.Content[i+1])
		if m == nil || m.Kind != yaml.MappingNode {
			return "", ""
		}
		for j := 0; j+1 < len(m.Content); j += 2 {
			switch m.Content[j].Value {
			case "name":
				name, _ = w.scalarString(m.Content[j+1])
			case "namespace":
				namespace, _ = w.scalarString(m.Content[j+1])
			}
		}
	}
	return namespace, name
}

// walk converts n, to be decoded into a value of type t at path p.
func (w *walker) walk(n *yaml.Node, t reflect.Type, p *field.Path, depth int) any {
	n = w.resolve(n)
	if n == nil || w.failed {
		return nil
	}
	if depth > maxDepth {
		w.abort(n, p, fmt.Sprintf("%s: nesting too deep", pathOrRoot(p)))
		return nil
	}
	if p != nil {
		w.lines[p.String()] = n.Line
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil
	}
	if t == felixSpecType {
		return w.walkStruct(n, felixFieldsType, p, depth, true)
	}
	if t.Kind() != reflect.Interface && (t.Implements(unmarshalerType) || reflect.PointerTo(t).Implements(unmarshalerType)) {
		return w.walkOpaque(n, t, p, depth)
	}
	switch t.Kind() {
	case reflect.Pointer:
		return w.walk(n, t.Elem(), p, depth+1)
	case reflect.Struct:
		return w.walkStruct(n, t, p, depth, false)
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			w.typeError(n, p, "an object")
			return nil
		}
		out := map[string]any{}
		for _, pr := range w.pairs(n, p) {
			out[pr.key] = w.walk(pr.v, t.Elem(), mapKey(p, pr.key), depth+1)
		}
		return out
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return w.walkScalar(n, reflect.TypeFor[string](), p)
		}
		if n.Kind != yaml.SequenceNode {
			w.typeError(n, p, "a list")
			return nil
		}
		out := make([]any, 0, len(n.Content))
		for i, c := range n.Content {
			out = append(out, w.walk(c, t.Elem(), indexPath(p, i), depth+1))
		}
		return out
	case reflect.Interface:
		v, _ := w.generic(n, p, depth)
		return v
	default:
		return w.walkScalar(n, t, p)
	}
}

func mapKey(p *field.Path, k string) *field.Path {
	if p == nil {
		return field.NewPath(k)
	}
	return p.Key(k)
}

func indexPath(p *field.Path, i int) *field.Path {
	if p == nil {
		return field.NewPath("").Index(i)
	}
	return p.Index(i)
}

func (w *walker) walkStruct(n *yaml.Node, t reflect.Type, p *field.Path, depth int, lenient bool) any {
	if n.Kind != yaml.MappingNode {
		w.typeError(n, p, "an object")
		return nil
	}
	fields := structFields(t)
	out := map[string]any{}
	for _, pr := range w.pairs(n, p) {
		cp := child(p, pr.key)
		ft, ok := fields[pr.key]
		if !ok {
			if lenient {
				w.lines[cp.String()] = pr.k.Line
				w.warns = append(w.warns, walkNote{line: pr.k.Line,
					msg: cp.String() + ": " + ignoredText})
				out[pr.key], _ = w.generic(pr.v, cp, depth+1)
				continue
			}
			w.lines[cp.String()] = pr.k.Line
			w.fail(pr.k, cp, fmt.Sprintf("%s: Unknown field%s", cp, suggest(pr.key, fields)))
			continue
		}
		out[pr.key] = w.walk(pr.v, ft, cp, depth+1)
	}
	return out
}

// suggest names a known field close to an unknown one.
func suggest(name string, fields map[string]reflect.Type) string {
	best, bestD := "", 3
	for f := range fields {
		d := editDistance(strings.ToLower(name), strings.ToLower(f))
		if d < bestD || (d == bestD && f < best) {
			best, bestD = f, d
		}
	}
	if best == "" || bestD > 2 || bestD >= len(name) {
		best = ""
		if len(name) >= 4 {
			for f := range fields {
				lf, ln := strings.ToLower(f), strings.ToLower(name)
				if (strings.HasPrefix(lf, ln) || strings.HasPrefix(ln, lf)) && (best == "" || f < best) {
					best = f
				}
			}
		}
		if best == "" {
			return ""
		}
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 99
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

var fieldCache sync.Map // reflect.Type -> map[string]reflect.Type

// structFields maps JSON names to field types, flattening embedded (inline) structs as
// encoding/json does.
func structFields(t reflect.Type) map[string]reflect.Type {
	if m, ok := fieldCache.Load(t); ok {
		return m.(map[string]reflect.Type)
	}
	m := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				for k, v := range structFields(ft) {
					if _, dup := m[k]; !dup {
						m[k] = v
					}
				}
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		m[name] = f.Type
	}
	fieldCache.Store(t, m)
	return m
}

// walkOpaque handles types with their own UnmarshalJSON: the value is converted generically
// and checked by decoding it into a fresh value of t.
func (w *walker) walkOpaque(n *yaml.Node, t reflect.Type, p *field.Path, depth int) any {
	v, ok := w.generic(n, p, depth)
	if !ok {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		w.fail(n, p, fmt.Sprintf("%s: Invalid value: %v", pathOrRoot(p), err))
		return nil
	}
	if err := json.Unmarshal(b, reflect.New(t).Interface()); err != nil {
		w.fail(n, p, fmt.Sprintf("%s: Invalid value: %s: %s", pathOrRoot(p), shortValue(n), cleanJSONError(err)))
		return nil
	}
	return json.RawMessage(b)
}

func cleanJSONError(err error) string {
	var ute *json.UnmarshalTypeError
	if errors.As(err, &ute) {
		return fmt.Sprintf("expected %s, got %s", ute.Type, ute.Value)
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

func shortValue(n *yaml.Node) string {
	switch n.Kind {
	case yaml.ScalarNode:
		v := n.Value
		if len(v) > 60 {
			v = v[:60] + "..."
		}
		switch n.Tag {
		case "!!int", "!!float", "!!bool":
			return v
		}
		return strconv.Quote(v)
	case yaml.MappingNode:
		return "an object"
	case yaml.SequenceNode:
		return "a list"
	}
	return "a value"
}

func describeNode(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "an object"
	case yaml.SequenceNode:
		return "a list"
	}
	switch n.Tag {
	case "!!int":
		return "an integer"
	case "!!float":
		return "a number"
	case "!!bool":
		return "a boolean"
	case "!!str":
		return "a string"
	}
	return "a " + strings.TrimPrefix(n.Tag, "!!")
}

func (w *walker) typeError(n *yaml.Node, p *field.Path, want string) {
	w.fail(n, p, fmt.Sprintf("%s: Invalid value: %s: expected %s, got %s", pathOrRoot(p), shortValue(n), want, describeNode(n)))
}

// walkScalar converts a scalar for a string, bool or numeric Go type.
func (w *walker) walkScalar(n *yaml.Node, t reflect.Type, p *field.Path) any {
	if n.Kind != yaml.ScalarNode {
		w.typeError(n, p, kindName(t))
		return nil
	}
	switch t.Kind() {
	case reflect.String:
		// A plain number or boolean where a string is expected is taken as written (as
		// sigs.k8s.io/yaml does for string targets): `containerID: 1337` is "1337".
		return n.Value
	case reflect.Bool:
		var b bool
		if n.Tag != "!!bool" || n.Decode(&b) != nil {
			w.typeError(n, p, "a boolean")
			return nil
		}
		return b
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		var i int64
		if n.Tag != "!!int" || n.Decode(&i) != nil || reflect.New(t).Elem().OverflowInt(i) {
			w.typeError(n, p, kindName(t))
			return nil
		}
		return json.Number(strconv.FormatInt(i, 10))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		var u uint64
		if n.Tag != "!!int" || n.Decode(&u) != nil || reflect.New(t).Elem().OverflowUint(u) {
			w.typeError(n, p, kindName(t))
			return nil
		}
		return json.Number(strconv.FormatUint(u, 10))
	case reflect.Float32, reflect.Float64:
		var f float64
		if (n.Tag != "!!int" && n.Tag != "!!float") || n.Decode(&f) != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			w.typeError(n, p, "a number")
			return nil
		}
		return f
	}
	w.fail(n, p, fmt.Sprintf("%s: cannot decode into %s", pathOrRoot(p), t))
	return nil
}

func kindName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Int:
		return fmt.Sprintf("an integer (%d-bit)", t.Bits())
	case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uint:
		return fmt.Sprintf("an integer 0-%d", uint64(math.MaxUint64)>>(64-t.Bits()))
	case reflect.Float32, reflect.Float64:
		return "a number"
	}
	return "a " + t.Kind().String()
}

// generic converts a node without a target type (interface{} fields, opaque types, ignored
// fields). ok is false when the node could not be converted (already reported).
func (w *walker) generic(n *yaml.Node, p *field.Path, depth int) (any, bool) {
	n = w.resolve(n)
	if n == nil || w.failed {
		return nil, false
	}
	if depth > maxDepth {
		w.abort(n, p, fmt.Sprintf("%s: nesting too deep", pathOrRoot(p)))
		return nil, false
	}
	switch n.Kind {
	case yaml.MappingNode:
		out := map[string]any{}
		ok := true
		for _, pr := range w.pairs(n, p) {
			v, vok := w.generic(pr.v, mapKey(p, pr.key), depth+1)
			ok = ok && vok
			out[pr.key] = v
		}
		return out, ok
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		ok := true
		for i, c := range n.Content {
			v, vok := w.generic(c, indexPath(p, i), depth+1)
			ok = ok && vok
			out = append(out, v)
		}
		return out, ok
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!null":
			return nil, true
		case "!!bool":
			var b bool
			if n.Decode(&b) == nil {
				return b, true
			}
		case "!!int":
			var i int64
			if n.Decode(&i) == nil {
				return json.Number(strconv.FormatInt(i, 10)), true
			}
			var u uint64
			if n.Decode(&u) == nil {
				return json.Number(strconv.FormatUint(u, 10)), true
			}
		case "!!float":
			var f float64
			if n.Decode(&f) == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
				return f, true
			}
			w.fail(n, p, fmt.Sprintf("%s: Invalid value: %s: not a finite number", pathOrRoot(p), n.Value))
			return nil, false
		}
		return n.Value, true
	}
	w.fail(n, p, fmt.Sprintf("%s: Invalid value: unsupported YAML node", pathOrRoot(p)))
	return nil, false
}
