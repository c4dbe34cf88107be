package model

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Document is one object decoded from a manifest stream.
type Document struct {
	Source string // file name, "-" for standard input
	Index  int    // 1-based position of the YAML/JSON document in the source (empty ones skipped)
	Item   int    // 1-based position in the items of a List document; 0 otherwise
	Line   int    // line where the object starts
	Object Object
	// Warnings are non-fatal notes, e.g. FelixConfiguration fields Trellis does not honour.
	Warnings []Problem
	// Partial is set when Decode reported problems with some values of this document: the
	// object lacks those values. It may still be validated to find further problems (which
	// Problems filters to paths outside the reported ones) but must never be stored.
	Partial bool

	lines  map[string]int // field path -> line, for locating validation errors
	failed []string       // field paths Decode reported
}

// Ref is "Kind/namespace/name" or "Kind/name"; a Kubernetes kind whose name a Calico kind
// also uses is group-qualified ("NetworkPolicy.networking.k8s.io/default/x").
func (d Document) Ref() string {
	if k, ok := KeyOf(d.Object); ok {
		return refOf(k)
	}
	return ""
}

func refOf(k Key) string {
	s := k.String()
	if k.Kind.Group == GroupCalico {
		return s
	}
	if c, ok := Lookup(APIVersionCalico, k.Kind.Kind); ok && c != k.Kind {
		group := k.Kind.Group
		if group == "" {
			group = "core"
		}
		return k.Kind.Kind + "." + group + strings.TrimPrefix(s, k.Kind.Kind)
	}
	return s
}

// LineOf returns the line of the field at path (a field.Path string such as
// "spec.ingress[0].action"), or of its nearest ancestor present in the source; 0 if unknown.
func (d Document) LineOf(path string) int {
	for path != "" {
		if l, ok := d.lines[path]; ok {
			return l
		}
		i := strings.LastIndexAny(path, ".[")
		if i <= 0 {
			break
		}
		path = path[:i]
	}
	return d.lines[path]
}

// Problems turns validation errors of the document's object into located problems.
func (d Document) Problems(errs field.ErrorList) Problems {
	out := make(Problems, 0, len(errs))
	for _, e := range errs {
		if d.underFailed(e.Field) {
			continue
		}
		out = append(out, Problem{Source: d.Source, Index: d.Index, Item: d.Item, Ref: d.Ref(),
			Line: d.LineOf(e.Field), Message: fieldProblemMessage(e)})
	}
	return out
}

// underFailed reports whether path is, or is inside, a value Decode already reported.
func (d Document) underFailed(path string) bool {
	for _, f := range d.failed {
		if path == f || strings.HasPrefix(path, f+".") || strings.HasPrefix(path, f+"[") {
			return true
		}
	}
	return false
}

// maxNodes bounds the work one document may cause (alias expansion); maxDepth bounds nesting.
const (
	maxNodes = 1 << 20
	maxDepth = 200
)

// Decode parses a YAML or JSON stream (several documents separated by "---", or concatenated
// JSON values) into objects of registered kinds. A `kind: List` document is flattened into
// its items. Decoding is strict: unknown fields, duplicate fields, values of the wrong type and
// unknown apiVersion/kind are problems naming the field path and line. Empty documents are
// skipped. It returns the decoded documents and, if anything was wrong, a Problems error
// listing every problem found; a document with value problems is returned with Partial set
// (the offending values dropped) so that callers may validate the rest of it. Decode applies
// no defaults and no validation.
func Decode(data []byte, source string) ([]Document, error) {
	var docs []Document
	var problems Problems
	next := yamlStream(data)
	isJSON := isJSONStream(data)
	if isJSON {
		next = jsonStream(data)
	}
	index := 0
	for {
		root, err := next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if isJSON {
				problems = append(problems, Problem{Source: source, Index: index + 1,
					Message: "invalid YAML or JSON: " + strings.TrimPrefix(err.Error(), "yaml: ")})
			} else {
				problems = append(problems, syntaxProblem(data, source, index+1, err))
			}
			break
		}
		if root.Kind == yaml.DocumentNode {
			if len(root.Content) == 0 {
				continue
			}
			root = root.Content[0]
		}
		if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
			continue
		}
		index++
		d, ps := decodeDocument(root, source, index)
		docs = append(docs, d...)
		problems = append(problems, ps...)
	}
	if len(problems) > 0 {
		return docs, problems
	}
	return docs, nil
}

// isJSONStream reports whether data is one or more concatenated JSON objects (a YAML parser
// would read only the first of several).
func isJSONStream(data []byte) bool {
	if t := bytes.TrimLeft(data, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	for {
		var raw json.RawMessage
		err := dec.Decode(&raw)
		if errors.Is(err, io.EOF) {
			return true
		}
		if err != nil {
			return false
		}
	}
}

// yamlStream returns the documents of a YAML stream one by one, then io.EOF.
func yamlStream(data []byte) func() (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	return func() (*yaml.Node, error) { return nextYAML(dec) }
}

// jsonStream returns the values of a stream of concatenated JSON values (which YAML cannot
// parse as one stream), each parsed as YAML for its node tree, lines counted in the whole
// stream.
func jsonStream(data []byte) func() (*yaml.Node, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	return func() (*yaml.Node, error) {
		start := dec.InputOffset()
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			if errors.Is(err, io.EOF) {
				return nil, io.EOF
			}
			return nil, fmt.Errorf("line %d: %w", 1+bytes.Count(data[:min(int(dec.InputOffset()), len(data))], []byte("\n")), err)
		}
		// The value starts after any white space following the previous one.
		lead := data[start:]
		skipped := len(lead) - len(bytes.TrimLeft(lead, " \t\r\n"))
		offset := bytes.Count(data[:int(start)+skipped], []byte("\n"))
		n, err := nextYAML(yaml.NewDecoder(bytes.NewReader(raw)))
		if err != nil {
			return nil, err
		}
		shiftLines(n, offset, map[*yaml.Node]bool{})
		return n, nil
	}
}

func shiftLines(n *yaml.Node, by int, seen map[*yaml.Node]bool) {
	if n == nil || seen[n] {
		return
	}
	seen[n] = true
	n.Line += by
	for _, c := range n.Content {
		shiftLines(c, by, seen)
	}
}

// nextYAML reads one document, turning a parser panic into an error.
func nextYAML(dec *yaml.Decoder) (n *yaml.Node, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("parser failed: %v", r)
		}
	}()
	var node yaml.Node
	if err := dec.Decode(&node); err != nil {
		return nil, err
	}
	return &node, nil
}

func decodeDocument(root *yaml.Node, source string, index int) ([]Document, Problems) {
	w := newWalker()
	base := Problem{Source: source, Index: index, Line: root.Line}
	if root.Kind == yaml.AliasNode {
		root = root.Alias
	}
	if root == nil || root.Kind != yaml.MappingNode {
		base.Message = "a document must be an object with apiVersion and kind"
		return nil, Problems{base}
	}
	apiVersion, kind := w.typeOf(root)
	if isListKind(apiVersion, kind) {
		return decodeList(w, root, source, index)
	}
	d, ps := decodeObject(root, source, index, 0)
	if d == nil {
		return nil, ps
	}
	return []Document{*d}, ps
}

// isListKind: kubectl's "v1 List" and the typed lists `get -o yaml` prints
// (projectcalico.org/v3 NetworkPolicyList, ...).
func isListKind(apiVersion, kind string) bool {
	if kind == "List" {
		return true
	}
	if elem, ok := strings.CutSuffix(kind, "List"); ok && elem != "" {
		_, known := Lookup(apiVersion, elem)
		return known
	}
	return false
}

func decodeList(w *walker, root *yaml.Node, source string, index int) ([]Document, Problems) {
	pairs := w.pairs(root, nil)
	var docs []Document
	var problems Problems
	for _, pr := range pairs {
		switch pr.key {
		case "apiVersion", "kind", "metadata":
		case "items":
		default:
			problems = append(problems, Problem{Source: source, Index: index, Line: pr.k.Line,
				Message: pr.key + ": Unknown field: a List has apiVersion, kind, metadata and items"})
		}
	}
	for _, pr := range pairs {
		if pr.key != "items" {
			continue
		}
		items := w.resolve(pr.v)
		if items == nil || (items.Kind == yaml.ScalarNode && items.Tag == "!!null") {
			continue
		}
		if items.Kind != yaml.SequenceNode {
			problems = append(problems, Problem{Source: source, Index: index, Line: items.Line,
				Message: "items: Invalid value: a List's items must be a sequence"})
			continue
		}
		for i, it := range items.Content {
			it = w.resolve(it)
			if it == nil || it.Kind != yaml.MappingNode {
				problems = append(problems, Problem{Source: source, Index: index, Item: i + 1, Line: pr.v.Line,
					Message: "an item must be an object with apiVersion and kind"})
				continue
			}
			d, ps := decodeObject(it, source, index, i+1)
			if d != nil {
				docs = append(docs, *d)
			}
			problems = append(problems, ps...)
		}
	}
	return docs, problems
}

// decodeObject decodes one object node; nil when it has problems.
func decodeObject(n *yaml.Node, source string, index, item int) (*Document, Problems) {
	w := newWalker()
	base := Problem{Source: source, Index: index, Item: item, Line: n.Line}
	apiVersion, kindName := w.typeOf(n)
	var problems Problems
	if apiVersion == "" {
		p := base
		p.Message = "apiVersion: Required value"
		problems = append(problems, p)
	}
	if kindName == "" {
		p := base
		p.Message = "kind: Required value"
		problems = append(problems, p)
	}
	if len(problems) > 0 {
		return nil, problems
	}
	k, ok := Lookup(apiVersion, kindName)
	if !ok {
		p := base
		p.Message = unknownKindMessage(apiVersion, kindName)
		return nil, Problems{p}
	}
	ns, name := w.nameOf(n)
	base.Ref = refOf(Key{Kind: k, Namespace: ns, Name: name})
	obj := k.New()
	v := w.walk(n, reflectTypeOf(obj), nil, 0)
	var failed []string
	for _, e := range w.errs {
		p := base
		p.Line, p.Message = e.line, e.msg
		problems = append(problems, p)
		failed = append(failed, e.path)
	}
	if w.fatal {
		return nil, problems
	}
	b, err := json.Marshal(v)
	if err == nil {
		err = json.Unmarshal(b, obj)
	}
	// The object's type is the registered kind, whatever duplicates the document held.
	obj.GetObjectKind().SetGroupVersionKind(k.GVK())
	if err != nil {
		p := base
		p.Message = "cannot decode: " + strings.TrimPrefix(err.Error(), "json: ")
		return nil, append(problems, p)
	}
	d := &Document{Source: source, Index: index, Item: item, Line: n.Line, Object: obj, lines: w.lines,
		Partial: len(problems) > 0, failed: failed}
	for _, wn := range w.warns {
		p := base
		p.Line, p.Message = wn.line, wn.msg
		d.Warnings = append(d.Warnings, p)
	}
	for _, x := range ExperimentalFields(obj) {
		p := base
		p.Message = x.Message()
		if l := d.LineOf(x.Path); l > 0 {
			p.Line = l
		}
		d.Warnings = append(d.Warnings, p)
	}
	for _, u := range UnusedFields(obj) {
		p := base
		p.Message = u.Message()
		if l := d.LineOf(u.Path); l > 0 {
			p.Line = l
		}
		d.Warnings = append(d.Warnings, p)
	}
	return d, problems
}

func unknownKindMessage(apiVersion, kind string) string {
	var versions []string
	for _, k := range Default.Kinds() {
		if strings.EqualFold(k.Kind, kind) {
			versions = append(versions, k.APIVersion()+" "+k.Kind)
		}
	}
	sort.Strings(versions)
	msg := fmt.Sprintf("unknown kind %q in apiVersion %q", kind, apiVersion)
	if len(versions) > 0 {
		msg += " (known: " + strings.Join(versions, ", ") + ")"
	}
	return msg
}
