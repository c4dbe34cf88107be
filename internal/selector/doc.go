// Package selector implements Project Calico's label selector language: lexing and parsing
// into an AST, evaluation against a label set, a canonical text form and a short hash of it.
//
// # Language
//
//	all()                      every label set (the empty or all-blank selector means this)
//	global()                   "not namespaced" in a namespaceSelector; matches everything here
//	has(k)                     label k is present
//	k == "v"    k != "v"       equality; != is also true when k is absent
//	k in {"a", "b"}            membership; {} and a trailing comma are allowed
//	k not in {"a"}             also spelled notin; true when k is absent
//	k contains "s"             substring
//	k starts with "p"          also spelled startswith
//	k ends with "s"            also spelled endswith
//	!x    x && y    x || y     precedence ! > && > ||; parentheses group
//
// Every comparison except != and not in is false when the label is absent. Label keys are
// runs of [A-Za-z0-9_./-] of at most 512 characters (Calico's limit). Values are single- or
// double-quoted, with no escapes; a value runs to its closing quote, newlines included, as in
// Calico's tokenizer. Only spaces and tabs separate tokens; a newline between tokens is an
// error (Calico's tokenizer skips spaces and tabs only). Operator words (in, not, contains, starts, with, ...) are
// keywords only right after a label key, and all, global and has are functions only when
// followed by '(', so `has(in)`, `contains == "x"` and `not in {"a"}` (label "not") all
// work.
//
// Parse errors are *ParseError values naming the byte offset of the problem:
//
//	invalid selector "app ==": expected a quoted value at offset 6
//
// # Canonical form
//
// Selector.String is the canonical form, and Selector.Hash is the first 16 hex digits of its
// SHA-256, used to name dataplane sets. The canonical form
//   - separates binary operators and operator words by single spaces and puts none inside
//     function calls: `app == "web"`, `has(app)`, `all()`;
//   - spells operators one way: `starts with`, `ends with`, `not in`;
//   - quotes values with double quotes, or with single quotes when the value contains a
//     double quote;
//   - sorts set values and drops duplicates: `k in {"a", "b"}`, `k in {}`;
//   - parenthesises every && or || group, the outermost one too, and flattens a group nested
//     directly in one of the same operator: `a == "1" && (b == "2" && c == "3")` becomes
//     `(a == "1" && b == "2" && c == "3")`; operand order is kept;
//   - writes a comparison under ! in parentheses: `!(app == "web")`, `!has(app)`,
//     `!(a == "1" || b == "2")`.
//
// Examples:
//
//	""                                    all()
//	"  app=='web'  "                      app == "web"
//	"a=='1'&&b=='2'||c=='3'"              ((a == "1" && b == "2") || c == "3")
//	"a=='1'&&(b=='2'||c=='3')"            (a == "1" && (b == "2" || c == "3"))
//	"!a=='1'"                             !(a == "1")
//	"tier notin {'b','a','b',}"           tier not in {"a", "b"}
//	"k startswith 'x'"                    k starts with "x"
//
// Invariants: parsing the canonical form yields an equal tree, hence the same canonical form,
// hash and matching results. Parse never panics and its errors always carry an offset within
// the input. Nesting is bounded (1000 levels of ! and parentheses while parsing, tree depth
// 200) so that hostile input cannot exhaust the stack.
//
// This package is pure: it must never do I/O, log, read the clock or keep global mutable
// state, and must never import other Trellis packages. Parsed trees are shared and must not
// be modified.
//
// # Tests
//
// testdata/match.txt is a datadriven table (selector, label sets and results, or the parse
// error with its offset); testdata/canonical.golden holds canonical forms and hashes
// (rewrite with `go test ./internal/selector -run TestCanonicalGolden -update`).
// Fuzzing, beyond the seed corpus in testdata/fuzz that every `go test` runs:
//
//	go test ./internal/selector -run '^$' -fuzz FuzzParse -fuzztime 2m
//
// Benchmarks: go test ./internal/selector -run '^$' -bench . -benchmem
package selector
