package grafana

import (
	"fmt"
	"regexp"
	"strings"
)

// PromQL words that are not metric names: aggregation operators, binary and set
// operators, modifiers and the special float literals. Function names need no list: a
// word followed by "(" is a call.
var promqlKeywords = map[string]bool{
	"sum": true, "min": true, "max": true, "avg": true, "group": true, "stddev": true, "stdvar": true,
	"count": true, "count_values": true, "bottomk": true, "topk": true, "quantile": true,
	"limitk": true, "limit_ratio": true,
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
	"bool": true, "and": true, "or": true, "unless": true, "offset": true, "atan2": true,
	"inf": true, "nan": true,
}

// labelListAfter are the words whose "(...)" that follows is a list of label names.
var labelListAfter = map[string]bool{
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
}

// grafanaVariable matches ${name...}, $name and [[name]] (Grafana's template variables).
var grafanaVariable = regexp.MustCompile(`\$\{[^}]*\}|\$[A-Za-z_][A-Za-z0-9_]*|\[\[[A-Za-z0-9_]+\]\]`)

// nameMatcher is a selector's __name__="..." matcher.
var nameMatcher = regexp.MustCompile(`__name__\s*(=~|!~|!=|=)\s*"([^"]*)"`)

// metricNames returns the metric names a PromQL expression selects, in order: identifiers
// that are not keywords, not followed by "(" (a function or aggregation), not inside a
// label matcher "{...}", a range or subquery "[...]", a label list after by/without/on/
// ignoring/group_left/group_right, a string or a number; plus __name__="..." matchers.
func metricNames(expr string) ([]string, error) {
	s := grafanaVariable.ReplaceAllString(expr, "")
	var names []string
	depth := 0 // of parentheses
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '(' || c == ')':
			if c == '(' {
				depth++
			} else if depth--; depth < 0 {
				return nil, fmt.Errorf("%q: unbalanced ')' at offset %d", expr, i)
			}
			i++
		case c == '"' || c == '\'' || c == '`':
			j := skipString(s, i)
			if j < 0 {
				return nil, fmt.Errorf("%q: unterminated string at offset %d", expr, i)
			}
			i = j
		case c == '{':
			j, err := closing(s, i, '{', '}')
			if err != nil {
				return nil, fmt.Errorf("%q: %w", expr, err)
			}
			n, err := matcherName(s[i+1 : j])
			if err != nil {
				return nil, fmt.Errorf("%q: %w", expr, err)
			}
			if n != "" {
				names = append(names, n)
			}
			i = j + 1
		case c == '[':
			j, err := closing(s, i, '[', ']')
			if err != nil {
				return nil, fmt.Errorf("%q: %w", expr, err)
			}
			i = j + 1
		case isDigit(c) || (c == '.' && i+1 < len(s) && isDigit(s[i+1])):
			i = skipNumber(s, i)
		case isIdentStart(c):
			j := i
			for j < len(s) && isIdent(s[j]) {
				j++
			}
			word, next := s[i:j], nextNonSpace(s, j)
			switch {
			case labelListAfter[word] && next < len(s) && s[next] == '(':
				k, err := closing(s, next, '(', ')')
				if err != nil {
					return nil, fmt.Errorf("%q: %w", expr, err)
				}
				j = k + 1
			case promqlKeywords[strings.ToLower(word)]:
			case next < len(s) && s[next] == '(':
			default:
				names = append(names, word)
			}
			i = j
		default:
			i++
		}
	}
	if depth != 0 {
		return nil, fmt.Errorf("%q: %d unclosed '('", expr, depth)
	}
	return names, nil
}

// matcherName is the metric a label-matcher list names with __name__="...", if any.
func matcherName(matchers string) (string, error) {
	m := nameMatcher.FindStringSubmatch(matchers)
	if m == nil {
		return "", nil
	}
	if m[1] != "=" {
		return "", fmt.Errorf("__name__%s%q cannot be checked against the metrics served", m[1], m[2])
	}
	return m[2], nil
}

// skipString returns the offset after the string literal starting at i; -1 if it does
// not end.
func skipString(s string, i int) int {
	q := s[i]
	for j := i + 1; j < len(s); j++ {
		switch {
		case s[j] == '\\' && q != '`':
			j++
		case s[j] == q:
			return j + 1
		}
	}
	return -1
}

// closing returns the offset of the bracket that closes the one at i, skipping strings.
func closing(s string, i int, open, close byte) (int, error) {
	depth := 0
	for j := i; j < len(s); j++ {
		switch s[j] {
		case '"', '\'', '`':
			k := skipString(s, j)
			if k < 0 {
				return 0, fmt.Errorf("unterminated string at offset %d", j)
			}
			j = k - 1
		case open:
			depth++
		case close:
			if depth--; depth == 0 {
				return j, nil
			}
		}
	}
	return 0, fmt.Errorf("no %q closes the %q at offset %d", close, open, i)
}

// skipNumber returns the offset after a number or duration at i (0.99, 1e-3, 0x1f, 5m).
func skipNumber(s string, i int) int {
	j := i
	for j < len(s) {
		c := s[j]
		switch {
		case isIdent(c) || c == '.':
			j++
		case (c == '+' || c == '-') && (s[j-1] == 'e' || s[j-1] == 'E') && !strings.HasPrefix(s[i:], "0x"):
			j++
		default:
			return j
		}
	}
	return j
}

func nextNonSpace(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
		i++
	}
	return i
}

func isDigit(c byte) bool      { return c >= '0' && c <= '9' }
func isIdentStart(c byte) bool { return c == '_' || c == ':' || (c|0x20 >= 'a' && c|0x20 <= 'z') }
func isIdent(c byte) bool      { return isIdentStart(c) || isDigit(c) }
