package selector

import (
	"fmt"
	"slices"
	"strings"
)

// ParseError is a selector syntax error. Offset is a byte offset into Selector.
type ParseError struct {
	Selector string
	Offset   int
	Msg      string
}

// Error quotes the selector, shortened to its first maxQuoted bytes if it is longer.
func (e *ParseError) Error() string {
	s := e.Selector
	if len(s) > maxQuoted {
		return fmt.Sprintf("invalid selector %q... (%d bytes): %s at offset %d", s[:maxQuoted], len(s), e.Msg, e.Offset)
	}
	return fmt.Sprintf("invalid selector %q: %s at offset %d", s, e.Msg, e.Offset)
}

const maxQuoted = 200

const (
	// maxNesting bounds parentheses plus ! while parsing, so that hostile input cannot
	// exhaust the stack.
	maxNesting = 1000
	// maxDepth bounds the depth of the resulting tree. It is well below maxNesting so that
	// the canonical form (which may add a level of parentheses) always parses again.
	maxDepth = 200
)

// Parse parses a selector. An empty or all-blank selector is all(). The error is always a
// *ParseError.
func Parse(s string) (*Selector, error) {
	p := &parser{src: s}
	p.skipBlank()
	if p.eof() {
		return newSelector(&All{}), nil
	}
	root, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	p.skipBlank()
	if !p.eof() {
		return nil, p.fail("expected '&&', '||' or the end of the selector")
	}
	if depth(root) > maxDepth {
		return nil, p.failAt(0, fmt.Sprintf("expressions nested more than %d deep", maxDepth))
	}
	return newSelector(root), nil
}

type parser struct {
	src     string
	pos     int
	nesting int
}

func (p *parser) eof() bool { return p.pos >= len(p.src) }

// skipBlank skips spaces and tabs, the only whitespace of the language.
func (p *parser) skipBlank() {
	for p.pos < len(p.src) && (p.src[p.pos] == ' ' || p.src[p.pos] == '\t') {
		p.pos++
	}
}

// consume advances past tok if the input continues with it.
func (p *parser) consume(tok string) bool {
	if strings.HasPrefix(p.src[p.pos:], tok) {
		p.pos += len(tok)
		return true
	}
	return false
}

func (p *parser) peek() byte {
	if p.eof() {
		return 0
	}
	return p.src[p.pos]
}

func (p *parser) fail(msg string) *ParseError { return p.failAt(p.pos, msg) }

// failAt reports msg at offset, naming a stray newline or other non-blank whitespace
// there, since those are the surprising cases.
func (p *parser) failAt(offset int, msg string) *ParseError {
	if offset < len(p.src) {
		switch c := p.src[offset]; c {
		case '\n', '\r', '\v', '\f':
			msg = fmt.Sprintf("unexpected %q (only spaces and tabs may separate tokens): %s", c, msg)
		}
	}
	return &ParseError{Selector: p.src, Offset: offset, Msg: msg}
}

// MaxKeyLength is the longest label key a selector may name, as in Calico.
const MaxKeyLength = 512

func isKeyChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '_' || c == '.' || c == '/' || c == '-'
}

// scanKey returns the longest run of key characters at the current position.
func (p *parser) scanKey() string {
	start := p.pos
	for p.pos < len(p.src) && isKeyChar(p.src[p.pos]) {
		p.pos++
	}
	return p.src[start:p.pos]
}

// parseOr: and ( "||" and )*
func (p *parser) parseOr() (Node, error) {
	var terms []Node
	for {
		t, err := p.parseAnd()
		if err != nil {
			return nil, err
		}
		if o, ok := t.(*Or); ok {
			terms = append(terms, o.Terms...)
		} else {
			terms = append(terms, t)
		}
		p.skipBlank()
		if !p.consume("||") {
			break
		}
	}
	if len(terms) == 1 {
		return terms[0], nil
	}
	return &Or{Terms: terms}, nil
}

// parseAnd: unary ( "&&" unary )*
func (p *parser) parseAnd() (Node, error) {
	var terms []Node
	for {
		t, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		if a, ok := t.(*And); ok {
			terms = append(terms, a.Terms...)
		} else {
			terms = append(terms, t)
		}
		p.skipBlank()
		if !p.consume("&&") {
			break
		}
	}
	if len(terms) == 1 {
		return terms[0], nil
	}
	return &And{Terms: terms}, nil
}

// parseUnary: "!" unary | "(" or ")" | term
func (p *parser) parseUnary() (Node, error) {
	p.skipBlank()
	switch p.peek() {
	case '!', '(':
		if p.nesting >= maxNesting {
			return nil, p.fail(fmt.Sprintf("more than %d levels of '!' and '('", maxNesting))
		}
		p.nesting++
		defer func() { p.nesting-- }()
	}
	if p.consume("!") {
		x, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		return &Not{X: x}, nil
	}
	if p.consume("(") {
		n, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		p.skipBlank()
		if !p.consume(")") {
			return nil, p.fail("expected '&&', '||' or ')'")
		}
		return n, nil
	}
	return p.parseTerm()
}

// parseTerm: "all()" | "global()" | "has(" key ")" | key operator
func (p *parser) parseTerm() (Node, error) {
	if p.eof() || !isKeyChar(p.peek()) {
		return nil, p.fail("expected a label key, '!', '(', has(), all() or global()")
	}
	start := p.pos
	key := p.scanKey()
	afterKey := p.pos
	// As in Calico, the call forms are single tokens: "has (x)" is not has(x).
	if p.peek() == '(' {
		switch key {
		case "all":
			return &All{}, p.parseEmptyCall()
		case "global":
			return &Global{}, p.parseEmptyCall()
		case "has":
			return p.parseHas()
		}
	}
	p.pos = afterKey
	if len(key) > MaxKeyLength {
		return nil, p.failAt(start, fmt.Sprintf("label key of %d characters (at most %d)", len(key), MaxKeyLength))
	}
	return p.parseOperator(key)
}

func (p *parser) parseEmptyCall() error {
	p.consume("(")
	p.skipBlank()
	if !p.consume(")") {
		return p.fail("expected ')'")
	}
	return nil
}

func (p *parser) parseHas() (Node, error) {
	p.consume("(")
	p.skipBlank()
	start := p.pos
	key := p.scanKey()
	if key == "" {
		return nil, p.fail("expected a label key")
	}
	if len(key) > MaxKeyLength {
		return nil, p.failAt(start, fmt.Sprintf("label key of %d characters (at most %d)", len(key), MaxKeyLength))
	}
	p.skipBlank()
	if !p.consume(")") {
		return nil, p.fail("expected ')'")
	}
	return &Has{Key: key}, nil
}

const expectedOperator = "expected an operator (==, !=, in, not in, contains, starts with, ends with)"

// parseOperator parses what follows a label key. Words are operators only here, which is
// why labels may be called in, not or contains.
func (p *parser) parseOperator(key string) (Node, error) {
	p.skipBlank()
	opStart := p.pos
	if p.consume("==") {
		return p.parseCompare(key, OpEqual)
	}
	if p.consume("!=") {
		return p.parseCompare(key, OpNotEqual)
	}
	switch word := p.scanKey(); word {
	case "in":
		return p.parseIn(key, false)
	case "notin":
		return p.parseIn(key, true)
	case "not":
		if err := p.expectWord("in"); err != nil {
			return nil, err
		}
		return p.parseIn(key, true)
	case "contains":
		return p.parseCompare(key, OpContains)
	case "startswith":
		return p.parseCompare(key, OpStartsWith)
	case "starts":
		if err := p.expectWord("with"); err != nil {
			return nil, err
		}
		return p.parseCompare(key, OpStartsWith)
	case "endswith":
		return p.parseCompare(key, OpEndsWith)
	case "ends":
		if err := p.expectWord("with"); err != nil {
			return nil, err
		}
		return p.parseCompare(key, OpEndsWith)
	}
	return nil, p.failAt(opStart, expectedOperator)
}

// expectWord requires blanks and then exactly word (the second half of "not in" etc.).
func (p *parser) expectWord(word string) error {
	before := p.pos
	p.skipBlank()
	start := p.pos
	if start == before || p.scanKey() != word {
		return p.failAt(start, fmt.Sprintf("expected '%s'", word))
	}
	return nil
}

func (p *parser) parseCompare(key string, op Op) (Node, error) {
	v, err := p.parseValue("expected a quoted value")
	if err != nil {
		return nil, err
	}
	return &Compare{Key: key, Op: op, Value: v}, nil
}

// parseIn parses a set: "{" [ value ( "," value )* [","] ] "}".
func (p *parser) parseIn(key string, negate bool) (Node, error) {
	p.skipBlank()
	if !p.consume("{") {
		return nil, p.fail("expected '{'")
	}
	var values []string
	for {
		p.skipBlank()
		if p.consume("}") {
			break
		}
		v, err := p.parseValue("expected a quoted value or '}'")
		if err != nil {
			return nil, err
		}
		values = append(values, v)
		p.skipBlank()
		if p.consume("}") {
			break
		}
		if !p.consume(",") {
			return nil, p.fail("expected ',' or '}'")
		}
	}
	slices.Sort(values)
	return &In{Key: key, Values: slices.Compact(values), Negate: negate}, nil
}

// parseValue parses a single- or double-quoted string. There are no escapes; the value runs
// to the closing quote, newlines included (as in Calico's tokenizer).
func (p *parser) parseValue(expected string) (string, error) {
	p.skipBlank()
	q := p.peek()
	if q != '"' && q != '\'' {
		return "", p.fail(expected)
	}
	start := p.pos
	for i := start + 1; i < len(p.src); i++ {
		switch p.src[i] {
		case q:
			p.pos = i + 1
			return p.src[start+1 : i], nil
		}
	}
	return "", p.failAt(start, "unterminated quoted value")
}
