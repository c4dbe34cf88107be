package model

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Problem is one thing wrong with (or one warning about) one document of one source.
type Problem struct {
	Source string // file name, "-" for standard input
	Index  int    // 1-based document in the source; 0 when the stream could not be split
	Item   int    // 1-based item of a List document; 0 otherwise
	Line   int    // 1-based line of the offending field, 0 when unknown
	Ref    string // "Kind/namespace/name" or "Kind/name", empty when not known yet
	// Message is "FIELD.PATH: Reason: value" (a field.Error's text) or a plain message.
	Message string
}

// String gives "FILE: document N (Kind/namespace/name): FIELD.PATH: Reason: value (line L)".
func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.Source)
	if p.Index > 0 {
		fmt.Fprintf(&b, ": document %d", p.Index)
		if p.Item > 0 {
			fmt.Fprintf(&b, " item %d", p.Item)
		}
	}
	if p.Ref != "" {
		fmt.Fprintf(&b, " (%s)", p.Ref)
	}
	b.WriteString(": ")
	b.WriteString(p.Message)
	if p.Line > 0 {
		fmt.Fprintf(&b, " (line %d)", p.Line)
	}
	return b.String()
}

// Problems is a list of problems usable as an error: one problem per line.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// fieldProblemMessage renders a field error as "path: Reason: value" without the long
// "supported values" form trimmed: the field.Error text is kept whole.
func fieldProblemMessage(e *field.Error) string { return e.Error() }
