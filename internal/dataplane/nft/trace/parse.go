package trace

import (
	"fmt"
	"net/netip"
	"strings"
)

// tokenize splits a rule into words: double-quoted strings stay whole, and braces and
// list commas are words of their own (commas inside a word, as in a conntrack state list,
// stay). "." between words is nft's concatenation, ":" between words a map's separator.
func tokenize(s string) ([]string, error) {
	var words []string
	for i := 0; i < len(s); {
		switch {
		case s[i] == ' ' || s[i] == '\t':
			i++
		case s[i] == '"':
			j := i + 1
			for j < len(s) && (s[j] != '"' || s[j-1] == '\\') {
				j++
			}
			if j == len(s) {
				return nil, fmt.Errorf("unterminated string at offset %d", i)
			}
			words = append(words, s[i:j+1])
			i = j + 1
		default:
			j := i
			for j < len(s) && s[j] != ' ' && s[j] != '\t' && s[j] != '"' {
				j++
			}
			words = append(words, splitPunct(s[i:j])...)
			i = j
		}
	}
	return words, nil
}

// splitPunct splits leading "{" and trailing "}" and "," off a word.
func splitPunct(w string) []string {
	var head, tail []string
	for len(w) > 1 && w[0] == '{' {
		head = append(head, "{")
		w = w[1:]
	}
	for len(w) > 1 && (w[len(w)-1] == '}' || w[len(w)-1] == ',') {
		tail = append([]string{w[len(w)-1:]}, tail...)
		w = w[:len(w)-1]
	}
	return append(append(head, w), tail...)
}

// parser turns one rule's words into operations.
type parser struct {
	words []string
	i     int
}

func (p *parser) peek() string {
	if p.i < len(p.words) {
		return p.words[p.i]
	}
	return ""
}

func (p *parser) next() string {
	w := p.peek()
	if p.i < len(p.words) {
		p.i++
	}
	return w
}

func (p *parser) expect(w string) error {
	if got := p.next(); got != w {
		return fmt.Errorf("expected %q, found %q", w, got)
	}
	return nil
}

// parseRule parses a rule's text into its operations, in order. Set references are
// resolved later (link), so they may name sets declared after the rule's chain.
func parseRule(text string) ([]op, error) {
	words, err := tokenize(text)
	if err != nil {
		return nil, err
	}
	p := &parser{words: words}
	var ops []op
	for p.peek() != "" {
		start := p.i
		o, err := p.op()
		if err != nil {
			return nil, fmt.Errorf("at word %d (%q): %w", start+1, p.peekAt(start), err)
		}
		ops = append(ops, o)
	}
	return ops, nil
}

func (p *parser) peekAt(i int) string {
	if i >= 0 && i < len(p.words) {
		return p.words[i]
	}
	return ""
}

func (p *parser) op() (op, error) {
	switch w := p.peek(); w {
	case "counter":
		p.next()
		if p.peek() == "packets" {
			p.i += 4 // packets N bytes M
		}
		return counterOp{}, nil
	case "accept", "drop", "return":
		p.next()
		return verdictOp{verdict{kind: w}}, nil
	case "reject":
		p.next()
		// The rest of the rule is the reject's own arguments ("with tcp reset").
		p.i = len(p.words)
		return verdictOp{verdict{kind: "reject"}}, nil
	case "jump", "goto":
		p.next()
		target := p.next()
		if target == "" {
			return nil, fmt.Errorf("%s without a chain", w)
		}
		return verdictOp{verdict{kind: w, target: target}}, nil
	case "log":
		p.next()
		return p.log()
	case "notrack":
		p.next()
		return notrackOp{}, nil
	case "masquerade":
		p.next()
		return natOp{kind: w}, nil
	case "dnat":
		p.next()
		return p.dnat()
	case "update":
		p.next()
		return p.update()
	}
	sels, err := p.selectors()
	if err != nil {
		return nil, err
	}
	switch p.peek() {
	case "set":
		p.next()
		return p.markSet(sels)
	case "vmap":
		p.next()
		return p.vmap(sels)
	}
	m := &matchOp{keyLookup: keyLookup{sels: sels}}
	switch p.peek() {
	case "==":
		p.next()
	case "!=":
		p.next()
		m.neg = true
	}
	if err := p.rhs(m); err != nil {
		return nil, err
	}
	return m, nil
}

func (p *parser) log() (op, error) {
	l := logOp{}
	for {
		switch p.peek() {
		case "prefix":
			p.next()
			s, err := unquote(p.next())
			if err != nil {
				return nil, err
			}
			l.prefix = s
		case "level", "group":
			p.next()
			p.next()
		default:
			return l, nil
		}
	}
}

// selectors parses "sel [& mask] [. sel [& mask]]...".
func (p *parser) selectors() ([]selector, error) {
	var sels []selector
	for {
		s, err := p.selector()
		if err != nil {
			return nil, err
		}
		if p.peek() == "&" {
			p.next()
			if s.typ.kind != kindNum {
				return nil, fmt.Errorf("mask on %s", s.name)
			}
			mask, err := parseNum(s.typ, p.next())
			if err != nil {
				return nil, err
			}
			s.mask = &mask
		}
		sels = append(sels, s)
		if p.peek() != "." {
			return sels, nil
		}
		p.next()
	}
}

// selector parses the longest field name (one to three words) at the current word.
func (p *parser) selector() (selector, error) {
	if p.peek() == "numgen" {
		return p.numgen()
	}
	for n := 3; n >= 1; n-- {
		if p.i+n > len(p.words) {
			continue
		}
		if s, ok := selectors[strings.Join(p.words[p.i:p.i+n], " ")]; ok {
			p.i += n
			return s, nil
		}
	}
	return selector{}, fmt.Errorf("unknown expression %q", strings.Join(p.words[p.i:min(p.i+2, len(p.words))], " "))
}

// numgen parses "numgen random mod N": a random number, which a trace cannot follow.
func (p *parser) numgen() (selector, error) {
	p.next()
	if p.next() != "random" || p.next() != "mod" {
		return selector{}, fmt.Errorf("only numgen random mod N is supported")
	}
	n, err := parseNum(typeMark, p.next())
	if err != nil || n == 0 {
		return selector{}, fmt.Errorf("numgen random mod needs a positive number")
	}
	name := fmt.Sprintf("numgen random mod %d", n)
	return selector{name: name, typ: typeMark, get: func(*Packet) (value, bool, error) {
		return value{}, false, fmt.Errorf("%s: the path depends on a random number", name)
	}}, nil
}

// rhs parses what a match compares with: a named set, an anonymous set or a value.
func (p *parser) rhs(m *matchOp) error {
	switch w := p.peek(); {
	case strings.HasPrefix(w, "@"):
		p.next()
		m.setName = w[1:]
		return nil
	case w == "{":
		p.next()
		for {
			key, err := p.key(m.sels)
			if err != nil {
				return err
			}
			m.anon = append(m.anon, element{key: key})
			switch p.next() {
			case ",":
				if p.peek() == "}" {
					p.next()
					return nil
				}
			case "}":
				return nil
			default:
				return fmt.Errorf("unterminated anonymous set")
			}
		}
	default:
		key, err := p.key(m.sels)
		if err != nil {
			return err
		}
		m.anon = []element{{key: key}}
		return nil
	}
}

// key parses one value per selector, joined by ".".
func (p *parser) key(sels []selector) ([]matcher, error) {
	var key []matcher
	for i, s := range sels {
		if i > 0 {
			if err := p.expect("."); err != nil {
				return nil, err
			}
		}
		w := p.next()
		if w == "" || w == "}" || w == "," {
			return nil, fmt.Errorf("missing value for %s", s.name)
		}
		m, err := parseMatcher(s.typ, w)
		if err != nil {
			return nil, err
		}
		key = append(key, m)
	}
	return key, nil
}

func (p *parser) vmap(sels []selector) (op, error) {
	v := &vmapOp{keyLookup: keyLookup{sels: sels}}
	if w := p.next(); strings.HasPrefix(w, "@") {
		v.setName = w[1:]
		return v, nil
	} else if w != "{" {
		return nil, fmt.Errorf("vmap needs a map, found %q", w)
	}
	for {
		key, err := p.key(sels)
		if err != nil {
			return nil, err
		}
		if err := p.expect(":"); err != nil {
			return nil, err
		}
		vd, err := parseVerdict(p.next(), p)
		if err != nil {
			return nil, err
		}
		v.anon = append(v.anon, element{key: key, verdict: &vd})
		switch p.next() {
		case ",":
			if p.peek() == "}" {
				p.next()
				return v, nil
			}
		case "}":
			return v, nil
		default:
			return nil, fmt.Errorf("unterminated verdict map")
		}
	}
}

// parseVerdict parses a verdict whose first word is w (a chain name follows jump and
// goto, taken from p).
func parseVerdict(w string, p *parser) (verdict, error) {
	switch w {
	case "accept", "drop", "return":
		return verdict{kind: w}, nil
	case "jump", "goto":
		target := p.next()
		if target == "" || target == "," || target == "}" {
			return verdict{}, fmt.Errorf("%s without a chain", w)
		}
		return verdict{kind: w, target: target}, nil
	}
	return verdict{}, fmt.Errorf("unknown verdict %q", w)
}

// markSet parses "meta mark set VALUE" and "meta mark set meta mark OP VALUE [OP VALUE]"
// (nft lists an and-then-or as "& MASK | BITS").
func (p *parser) markSet(sels []selector) (op, error) {
	if len(sels) != 1 || sels[0].name != "meta mark" || sels[0].mask != nil {
		return nil, fmt.Errorf("unsupported set statement")
	}
	o := markSetOp{}
	if p.peek() != "meta" {
		n, err := parseNum(typeMark, p.next())
		if err != nil {
			return nil, err
		}
		o.steps = append(o.steps, markStep{val: n})
		return o, nil
	}
	if err := p.expect("meta"); err != nil {
		return nil, err
	}
	if err := p.expect("mark"); err != nil {
		return nil, err
	}
	for len(o.steps) == 0 || p.peek() == "&" || p.peek() == "|" || p.peek() == "^" {
		s := markStep{op: p.next()}
		if s.op != "&" && s.op != "|" && s.op != "^" {
			return nil, fmt.Errorf("unsupported mark operation %q", s.op)
		}
		n, err := parseNum(typeMark, p.next())
		if err != nil {
			return nil, err
		}
		s.val = n
		o.steps = append(o.steps, s)
	}
	return o, nil
}

// dnat parses "dnat [ip|ip6] to ADDR[:PORT]" (an IPv6 address with a port in brackets).
func (p *parser) dnat() (op, error) {
	fam := p.peek()
	if fam == "ip" || fam == "ip6" {
		p.next()
	}
	if err := p.expect("to"); err != nil {
		return nil, err
	}
	target := p.next()
	o := natOp{kind: "dnat"}
	if ap, err := netip.ParseAddrPort(target); err == nil {
		o.addr, o.port = ap.Addr(), ap.Port()
	} else if a, err := netip.ParseAddr(strings.Trim(target, "[]")); err == nil {
		o.addr = a
	} else {
		return nil, fmt.Errorf("dnat target %q is not an address or address:port", target)
	}
	if (fam == "ip" && !o.addr.Is4()) || (fam == "ip6" && !o.addr.Is6()) {
		return nil, fmt.Errorf("dnat %s to %s: wrong family", fam, target)
	}
	return o, nil
}

// update parses "update @set { KEY }", which adds the packet's key to a dynamic set.
func (p *parser) update() (op, error) {
	name, ok := strings.CutPrefix(p.next(), "@")
	if !ok {
		return nil, fmt.Errorf("update needs a set")
	}
	if err := p.expect("{"); err != nil {
		return nil, err
	}
	sels, err := p.selectors()
	if err != nil {
		return nil, err
	}
	if err := p.expect("}"); err != nil {
		return nil, err
	}
	return &updateOp{sels: sels, setName: name}, nil
}
