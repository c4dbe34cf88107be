package selector

import "strings"

// quote writes v in double quotes, or in single quotes when v contains a double quote.
// (No value holds both: the language has no escapes.)
func quote(b *strings.Builder, v string) {
	q := byte('"')
	if strings.IndexByte(v, '"') >= 0 {
		q = '\''
	}
	b.WriteByte(q)
	b.WriteString(v)
	b.WriteByte(q)
}

func (*All) write(b *strings.Builder)    { b.WriteString("all()") }
func (*Global) write(b *strings.Builder) { b.WriteString("global()") }

func (n *Has) write(b *strings.Builder) {
	b.WriteString("has(")
	b.WriteString(n.Key)
	b.WriteByte(')')
}

func (n *Compare) write(b *strings.Builder) {
	b.WriteString(n.Key)
	b.WriteByte(' ')
	b.WriteString(n.Op.String())
	b.WriteByte(' ')
	quote(b, n.Value)
}

func (n *In) write(b *strings.Builder) {
	b.WriteString(n.Key)
	if n.Negate {
		b.WriteString(" not in {")
	} else {
		b.WriteString(" in {")
	}
	for i, v := range n.Values {
		if i > 0 {
			b.WriteString(", ")
		}
		quote(b, v)
	}
	b.WriteByte('}')
}

// write puts a comparison under ! in parentheses, `!(app == "x")`, so that nobody reads
// it as a comparison of `!app`; function calls and groups are already delimited.
func (n *Not) write(b *strings.Builder) {
	b.WriteByte('!')
	switch n.X.(type) {
	case *Compare, *In:
		b.WriteByte('(')
		n.X.write(b)
		b.WriteByte(')')
	default:
		n.X.write(b)
	}
}

func (n *And) write(b *strings.Builder) { writeGroup(b, n.Terms, " && ") }
func (n *Or) write(b *strings.Builder)  { writeGroup(b, n.Terms, " || ") }

func writeGroup(b *strings.Builder, terms []Node, sep string) {
	b.WriteByte('(')
	for i, t := range terms {
		if i > 0 {
			b.WriteString(sep)
		}
		t.write(b)
	}
	b.WriteByte(')')
}

// canonical is n's canonical text.
func canonical(n Node) string {
	var b strings.Builder
	n.write(&b)
	return b.String()
}
