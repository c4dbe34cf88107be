package trace

import (
	"fmt"
	"net/netip"
	"strings"

	"sigs.k8s.io/knftables"
)

// Verdicts a trace ends with.
const (
	Accept = "accept"
	Drop   = "drop"
)

// Result is what happened to a packet.
type Result struct {
	// Verdict is Accept or Drop (a reject is a drop that answers; Step says which).
	Verdict string
	// Steps are the rules that matched, in the order they ran, and the policies of base
	// chains the packet fell off the end of.
	Steps []Step
	// Logs are the prefixes of the log statements that ran, LogMarks the packet's mark
	// when each ran.
	Logs     []string
	LogMarks []uint32
	// Untracked is set when a notrack statement ran.
	Untracked bool
	// NAT lists the address translations that ran ("dnat to 10.0.0.1:80", "masquerade").
	NAT []string
}

// Step is one rule that matched.
type Step struct {
	Chain string
	// Index is the rule's position in its chain, -1 for a base chain's policy.
	Index   int
	Rule    string
	Comment string
}

func (s Step) String() string {
	if s.Comment != "" {
		return fmt.Sprintf("%s[%d]: %s  # %s", s.Chain, s.Index, s.Rule, s.Comment)
	}
	return fmt.Sprintf("%s[%d]: %s", s.Chain, s.Index, s.Rule)
}

// String prints the steps one per line and the verdict.
func (r Result) String() string {
	var b strings.Builder
	for _, s := range r.Steps {
		b.WriteString(s.String() + "\n")
	}
	b.WriteString("verdict: " + r.Verdict + "\n")
	return b.String()
}

// verdict is a rule's or map element's verdict; target names the chain of jump and goto.
type verdict struct {
	kind   string // accept, drop, reject, return, jump, goto
	target string
}

func (v verdict) String() string {
	if v.target != "" {
		return v.kind + " " + v.target
	}
	return v.kind
}

// evalCtx is one rule's evaluation.
type evalCtx struct {
	t     *Table
	p     *Packet
	res   *Result
	chain *chain
}

// op is one expression or statement of a rule. matched false stops the rule; a verdict
// ends it.
type op interface {
	eval(c *evalCtx) (matched bool, v *verdict, err error)
}

type counterOp struct{}

func (counterOp) eval(*evalCtx) (bool, *verdict, error) { return true, nil, nil }

type verdictOp struct{ v verdict }

func (o verdictOp) eval(*evalCtx) (bool, *verdict, error) { return true, &o.v, nil }

type logOp struct{ prefix string }

func (o logOp) eval(c *evalCtx) (bool, *verdict, error) {
	c.res.Logs = append(c.res.Logs, o.prefix)
	c.res.LogMarks = append(c.res.LogMarks, c.p.Mark)
	return true, nil, nil
}

// conntrackPriority is where conntrack looks packets up (NF_IP_PRI_CONNTRACK): notrack
// must run before it.
const conntrackPriority = -200

type notrackOp struct{}

func (notrackOp) eval(c *evalCtx) (bool, *verdict, error) {
	if c.chain.hook != "prerouting" && c.chain.hook != "output" || c.chain.prio >= conntrackPriority {
		return false, nil, fmt.Errorf("notrack in %s (hook %s priority %d) runs after conntrack", c.chain.name, c.chain.hook, c.chain.prio)
	}
	c.p.CT = "untracked"
	c.res.Untracked = true
	return true, nil, nil
}

// natOp is masquerade or dnat: NAT statements end the chain with accept. dnat rewrites
// the destination (the interfaces of the packet are the caller's: they describe the
// path after DNAT) and marks the connection as DNATed (ct status dnat).
type natOp struct {
	kind string
	addr netip.Addr
	port uint16
}

func (o natOp) eval(c *evalCtx) (bool, *verdict, error) {
	if c.chain.typ != string(knftables.NATType) {
		return false, nil, fmt.Errorf("%s in %s, which is not a nat chain", o.kind, c.chain.name)
	}
	if o.kind == "dnat" {
		if o.addr.Unmap().Is4() != c.p.Dst.Unmap().Is4() {
			return false, nil, fmt.Errorf("dnat to %s of a packet to %s", o.addr, c.p.Dst)
		}
		c.p.Dst = o.addr
		if o.port != 0 {
			c.p.DPort = o.port
		}
		c.p.dnatted = true
	}
	c.res.NAT = append(c.res.NAT, o.String())
	return true, &verdict{kind: "accept"}, nil
}

func (o natOp) String() string {
	if o.kind != "dnat" {
		return o.kind
	}
	if o.port != 0 {
		return "dnat to " + netip.AddrPortFrom(o.addr, o.port).String()
	}
	return "dnat to " + o.addr.String()
}

// updateOp adds the packet's key to a dynamic set: it does not change what happens to
// the packet itself, so a trace only checks that the key can be read.
type updateOp struct {
	sels    []selector
	setName string
}

func (o *updateOp) eval(c *evalCtx) (bool, *verdict, error) {
	if _, _, err := readAll(o.sels, c.p); err != nil {
		return false, nil, err
	}
	return true, nil, nil
}

type markSetOp struct{ steps []markStep }

type markStep struct {
	op  string // "" (set), "&", "|", "^"
	val uint64
}

func (o markSetOp) eval(c *evalCtx) (bool, *verdict, error) {
	for _, s := range o.steps {
		v := uint32(s.val)
		switch s.op {
		case "&":
			c.p.Mark &= v
		case "|":
			c.p.Mark |= v
		case "^":
			c.p.Mark ^= v
		default:
			c.p.Mark = v
		}
	}
	return true, nil, nil
}

// keyLookup is what matchOp and vmapOp share: packet fields (concatenated) looked up in
// an anonymous set or map (anon) or in the named one (setName, when set).
type keyLookup struct {
	sels    []selector
	anon    []element
	setName string
}

// find reads the fields from c's packet and looks them up: ok is false when a field is
// absent from the packet (the rule does not match), e is nil on a miss.
func (l *keyLookup) find(c *evalCtx) (e *element, ok bool, err error) {
	vals, ok, err := readAll(l.sels, c.p)
	if !ok || err != nil {
		return nil, false, err
	}
	if l.setName != "" {
		e = c.t.sets[l.setName].lookup(vals)
	} else {
		e = lookupIn(l.anon, l.sels, vals)
	}
	if err := known(l.sels, vals, e); err != nil {
		return nil, false, err
	}
	return e, true, nil
}

// matchOp compares packet fields (concatenated) with a value, an anonymous set or a
// named set.
type matchOp struct {
	keyLookup
	neg bool
}

func (o *matchOp) eval(c *evalCtx) (bool, *verdict, error) {
	e, ok, err := o.find(c)
	if !ok || err != nil {
		return false, nil, err
	}
	return (e != nil) != o.neg, nil, nil
}

// vmapOp looks packet fields up in a verdict map; a miss ends the rule without a
// verdict.
type vmapOp struct {
	keyLookup
}

func (o *vmapOp) eval(c *evalCtx) (bool, *verdict, error) {
	e, ok, err := o.find(c)
	if !ok || err != nil || e == nil {
		return false, nil, err
	}
	return true, e.verdict, nil
}

// known reports an error when e was found only because a value is unknown: whether
// the packet matches then depends on bytes the tracer does not model. A lookup that
// finds nothing even with unknown values matching everything is decided.
func known(sels []selector, vals []value, e *element) error {
	if e == nil {
		return nil
	}
	for i, v := range vals {
		if v.unknown {
			return fmt.Errorf("%s of a packet without ports: the match depends on bytes the tracer does not model", sels[i].name)
		}
	}
	return nil
}

func readAll(sels []selector, p *Packet) ([]value, bool, error) {
	vals := make([]value, len(sels))
	for i, s := range sels {
		v, ok, err := s.read(p)
		if err != nil {
			return nil, false, fmt.Errorf("%s: %w", s.name, err)
		}
		if !ok {
			return nil, false, nil
		}
		vals[i] = v
	}
	return vals, true, nil
}

// element is a set or map element: one matcher per key part, and a map's verdict.
type element struct {
	key     []matcher
	verdict *verdict
}

func (e *element) match(sels []selector, vals []value) bool {
	for i, m := range e.key {
		if !m.match(sels[i].typ, vals[i]) {
			return false
		}
	}
	return true
}

func lookupIn(elems []element, sels []selector, vals []value) *element {
	for i := range elems {
		if elems[i].match(sels, vals) {
			return &elems[i]
		}
	}
	return nil
}

// maxJumps is the kernel's jump stack depth (NFT_JUMP_STACK_SIZE).
const maxJumps = 16

// run evaluates base chain ch and returns its verdict: accept (including falling off
// the end under an accept policy), drop or reject.
func (t *Table) run(ch *chain, p *Packet, res *Result) (string, error) {
	type frame struct {
		c *chain
		i int
	}
	stack := []frame{{c: ch}}
	for len(stack) > 0 {
		top := len(stack) - 1
		f := stack[top]
		if f.i >= len(f.c.rules) {
			stack = stack[:top]
			continue
		}
		stack[top].i++
		r := f.c.rules[f.i]
		ctx := &evalCtx{t: t, p: p, res: res, chain: ch}
		v, matched, err := r.eval(ctx)
		if err != nil {
			return "", fmt.Errorf("chain %s rule %d %q: %w", f.c.name, f.i, r.text, err)
		}
		if !matched {
			continue
		}
		res.Steps = append(res.Steps, Step{Chain: f.c.name, Index: f.i, Rule: r.text, Comment: r.comment})
		if v == nil {
			continue
		}
		switch v.kind {
		case "accept", "drop", "reject":
			return v.kind, nil
		case "return":
			stack = stack[:top]
		case "jump":
			if len(stack) > maxJumps {
				return "", fmt.Errorf("chain %s: more than %d nested jumps", f.c.name, maxJumps)
			}
			stack = append(stack, frame{c: t.chains[v.target]})
		case "goto":
			stack[top] = frame{c: t.chains[v.target]}
		}
	}
	res.Steps = append(res.Steps, Step{Chain: ch.name, Index: -1, Rule: "policy " + ch.policy})
	return ch.policy, nil
}

// eval runs a rule's operations in order until one does not match or one gives a
// verdict (the rest of the rule is then not evaluated, as in the kernel).
func (r *rule) eval(c *evalCtx) (*verdict, bool, error) {
	for _, o := range r.ops {
		matched, v, err := o.eval(c)
		if err != nil || !matched {
			return nil, false, err
		}
		if v != nil {
			return v, true, nil
		}
	}
	return nil, true, nil
}
