package model

import (
	"bytes"
	"errors"
	"io"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"
)

// maxSyntaxScanLines bounds the search for a YAML syntax error's line (the search parses
// prefixes of the input, so its cost grows with the square of the lines before the error).
const maxSyntaxScanLines = 4000

// yamlLine matches the "line N: " yaml.v3 puts before its messages; N is where the
// enclosing construct started, often not the faulty line.
var yamlLine = regexp.MustCompile(`^(yaml: )?line \d+: `)

// syntaxProblem turns a YAML syntax error into a problem that names the faulty line: the
// first line after the longest prefix of the input that still parses.
func syntaxProblem(data []byte, source string, index int, err error) Problem {
	msg := yamlLine.ReplaceAllString(err.Error(), "")
	p := Problem{Source: source, Index: index, Message: "invalid YAML: " + msg}
	if line, ok := faultyLine(data); ok {
		p.Line = line
	} else {
		p.Message = "invalid YAML or JSON: " + strings.TrimPrefix(err.Error(), "yaml: ")
	}
	return p
}

// faultyLine returns the 1-based line after the longest prefix of whole lines of data that
// parses as a YAML stream.
func faultyLine(data []byte) (int, bool) {
	ends := lineEnds(data)
	if len(ends) > maxSyntaxScanLines {
		return 0, false
	}
	for k := len(ends) - 1; k >= 0; k-- {
		if parses(data[:ends[k]]) {
			return k + 2, k+1 < len(ends)
		}
	}
	return 1, len(ends) > 0
}

// lineEnds are the offsets just after each line of data.
func lineEnds(data []byte) []int {
	var ends []int
	for i := 0; i < len(data); {
		j := bytes.IndexByte(data[i:], '\n')
		if j < 0 {
			ends = append(ends, len(data))
			break
		}
		i += j + 1
		ends = append(ends, i)
	}
	return ends
}

func parses(data []byte) bool {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		_, err := nextYAML(dec)
		if errors.Is(err, io.EOF) {
			return true
		}
		if err != nil {
			return false
		}
	}
}
