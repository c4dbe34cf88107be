// Command junit reads `go test -json` events on stdin, writes the tests' output to stderr
// as `go test -v` would show it, and a JUnit XML report to stdout whose test cases carry a
// status attribute (passed, failed, skipped) as ginkgo's reports do, so that one counter
// reads every suite's report. With -depth N only tests N levels deep are reported
// (TestConformance/CNPAdminTierEgressTCP is 2: one conformance test, failed if any of its
// subtests failed), else the leaves; a shallower test that failed without any reported
// test below it (a failed set-up) is reported too. Tests named by -skipped (left out with
// go test -skip, or skipped by the suite's own option, which only logs it) are reported as
// skipped with -reason.
package main

import (
	"bufio"
	"encoding/json"
	"encoding/xml"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
)

type event struct {
	Action  string
	Package string
	Test    string
	Output  string
	Elapsed float64
}

type testCase struct {
	XMLName   xml.Name `xml:"testcase"`
	Name      string   `xml:"name,attr"`
	ClassName string   `xml:"classname,attr"`
	Status    string   `xml:"status,attr"`
	Time      float64  `xml:"time,attr"`
	Failure   *message `xml:"failure,omitempty"`
	Skipped   *message `xml:"skipped,omitempty"`
	Output    string   `xml:"system-out,omitempty"`
}

type message struct {
	Message string `xml:"message,attr"`
}

type suite struct {
	XMLName  xml.Name   `xml:"testsuite"`
	Name     string     `xml:"name,attr"`
	Tests    int        `xml:"tests,attr"`
	Failures int        `xml:"failures,attr"`
	Skipped  int        `xml:"skipped,attr"`
	Cases    []testCase `xml:"testcase"`
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "junit: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	skipped := flag.String("skipped", "", "comma-separated names of tests skipped by name")
	reason := flag.String("reason", "skipped by name", "why the -skipped tests are skipped")
	depth := flag.Int("depth", 0, "report the tests this many levels deep (0: the leaves)")
	flag.Parse()
	out := map[string]*strings.Builder{}
	var s suite
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	for sc.Scan() {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			fmt.Fprintln(os.Stderr, sc.Text()) // build errors are not JSON
			continue
		}
		if s.Name == "" {
			s.Name = e.Package
		}
		switch e.Action {
		case "output":
			fmt.Fprint(os.Stderr, e.Output)
			if e.Test != "" {
				if out[e.Test] == nil {
					out[e.Test] = &strings.Builder{}
				}
				out[e.Test].WriteString(e.Output)
			}
		case "pass", "fail", "skip":
			if e.Test == "" {
				continue
			}
			c := testCase{Name: e.Test, ClassName: e.Package, Time: e.Elapsed}
			if b := out[e.Test]; b != nil {
				c.Output = b.String()
			}
			switch e.Action {
			case "pass":
				c.Status = "passed"
			case "fail":
				c.Status, c.Failure = "failed", &message{Message: "failed"}
			case "skip":
				c.Status, c.Skipped = "skipped", &message{Message: "skipped"}
			}
			s.Cases = append(s.Cases, c)
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	s.Cases = markSkipped(s.Cases, s.Name, strings.Split(*skipped, ","), *reason)
	s.Cases = reported(s.Cases, *depth)
	s.Tests, s.Failures, s.Skipped = len(s.Cases), 0, 0
	for _, c := range s.Cases {
		switch c.Status {
		case "failed":
			s.Failures++
		case "skipped":
			s.Skipped++
		}
	}
	fmt.Print(xml.Header)
	enc := xml.NewEncoder(os.Stdout)
	enc.Indent("", "  ")
	if err := enc.Encode(s); err != nil {
		return err
	}
	fmt.Println()
	return nil
}

// markSkipped reports the tests named as skipped with reason: the ones that ran and
// passed (a suite that skips a test by its own option only logs it) and the ones that
// did not run (left out with go test -skip). A named test that failed stays failed.
func markSkipped(cases []testCase, class string, names []string, reason string) []testCase {
	seen := map[string]bool{}
	for i := range cases {
		c := &cases[i]
		if slices.Contains(names, c.Name) {
			seen[c.Name] = true
			if c.Status == "passed" {
				c.Status, c.Skipped = "skipped", &message{Message: reason}
			}
		}
	}
	for _, n := range names {
		if n != "" && !seen[n] {
			cases = append(cases, testCase{Name: n, ClassName: class, Status: "skipped", Skipped: &message{Message: reason}})
		}
	}
	return cases
}

// reported keeps the tests depth levels deep (the leaves when depth is 0), and the failed
// tests that have no kept test below them.
func reported(cases []testCase, depth int) []testCase {
	level := func(name string) int { return strings.Count(name, "/") + 1 }
	keep := map[string]bool{}
	for _, c := range cases {
		keep[c.Name] = depth > 0 && level(c.Name) == depth
	}
	if depth == 0 {
		parent := map[string]bool{}
		for _, c := range cases {
			if i := strings.LastIndex(c.Name, "/"); i > 0 {
				parent[c.Name[:i]] = true
			}
		}
		for _, c := range cases {
			keep[c.Name] = !parent[c.Name]
		}
	}
	below := func(name string) bool {
		for n, k := range keep {
			if k && strings.HasPrefix(n, name+"/") {
				return true
			}
		}
		return false
	}
	var out []testCase
	for _, c := range cases {
		if keep[c.Name] || (c.Status == "failed" && !below(c.Name) && (depth == 0 || level(c.Name) < depth)) {
			out = append(out, c)
		}
	}
	return out
}
