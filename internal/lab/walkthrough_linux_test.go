package lab

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/trellisnet/trellis/internal/kube/kubebin"
)

// The walkthroughs in docs/labs/*.md are executable. A fenced block whose info string
// starts with `sh` is a step: it runs with bash (-e -o pipefail) from the repository root,
// in a fresh process with LAB and TRELLIS_DATASTORE_ENDPOINTS naming a lab of the test's
// own, and the trellis under test first on PATH. Words after `sh` qualify the step:
//
//	exit=N        the step must exit with N (default 0)
//	retry=DUR     run it again every 500ms until it passes or DUR has passed
//
// A ```text block that follows a step (only blank lines between) is what the step prints,
// shortened: each of its lines must match a line of the output (stdout and stderr
// together), in order, skipping any output lines between. Runs of spaces match any run of
// spaces, `...` inside a line matches any text, and a line of just `...` matches nothing
// (it only tells the reader that lines were left out). Other blocks (yaml, console, ...)
// are for reading only. A line `<!-- requires: CMD... -->` names host commands the
// walkthrough needs beyond trellis, bash and iproute2 (bird, curl): without one of them it
// is skipped. The walkthroughs in docs/labs/kubernetes/ run on a Kubernetes-mode lab
// (kubeWalkDir), one at a time, and are skipped without the Kubernetes binaries.

var walkthroughDocs = flag.String("walkthroughs", "../../docs/labs", "directory of the runnable walkthroughs")

// kubeWalkDir is the subdirectory of the walkthroughs that run on a Kubernetes-mode lab:
// they start it with `lab up --kubernetes` and drive it with kubectl, so each step also gets
// KUBECONFIG (the lab's admin kubeconfig), kubectl's directory on PATH and
// TRELLIS_DATASTORE_TYPE=kubernetes instead of TRELLIS_DATASTORE_ENDPOINTS.
const kubeWalkDir = "kubernetes"

// kubeWalkSlot lets one Kubernetes-mode walkthrough run at a time: each is a whole cluster
// (API server, controllers, a containerd and a kubelet per node), and two of them side by
// side on a small CI machine slow both past their steps' timeouts.
var kubeWalkSlot = make(chan struct{}, 1)

// isKubeWalkthrough reports whether the walkthrough at path runs on a Kubernetes-mode lab.
func isKubeWalkthrough(path string) bool { return filepath.Base(filepath.Dir(path)) == kubeWalkDir }

// walkStep is one runnable block of a walkthrough.
type walkStep struct {
	Line   int // line of the opening fence, from 1
	Script string
	Exit   int
	Retry  time.Duration
	Want   []string // lines of the following text block
}

var (
	fenceRE    = regexp.MustCompile("^(`{3,})\\s*(\\S*)\\s*(.*)$")
	requiresRE = regexp.MustCompile(`(?m)^<!-- requires: ([^>]*) -->$`)
)

// walkRequires returns the host commands a walkthrough says it needs.
func walkRequires(doc string) []string {
	var out []string
	for _, m := range requiresRE.FindAllStringSubmatch(doc, -1) {
		out = append(out, strings.Fields(m[1])...)
	}
	return out
}

// parseWalkthrough returns the steps of a walkthrough in order.
func parseWalkthrough(doc string) ([]walkStep, error) {
	type block struct {
		line       int
		lang, args string
		body       []string
		prevStep   int // index of the step this block may be the output of, -1 if none
	}
	var (
		steps   []walkStep
		cur     *block
		fence   string
		lastEnd = -1 // index in steps of the step whose block closed last, while only blank lines follow
	)
	sc := bufio.NewScanner(strings.NewReader(doc))
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if cur == nil {
			m := fenceRE.FindStringSubmatch(line)
			if m == nil {
				if strings.TrimSpace(line) != "" {
					lastEnd = -1
				}
				continue
			}
			cur = &block{line: n, lang: m[2], args: m[3], prevStep: lastEnd}
			fence = m[1]
			lastEnd = -1
			continue
		}
		if strings.HasPrefix(line, fence) && strings.TrimSpace(strings.TrimLeft(line, "`")) == "" {
			switch cur.lang {
			case "sh":
				s, err := newWalkStep(cur.line, cur.args, cur.body)
				if err != nil {
					return nil, err
				}
				steps = append(steps, s)
				lastEnd = len(steps) - 1
			case "text":
				if cur.prevStep >= 0 {
					if len(steps[cur.prevStep].Want) > 0 {
						return nil, fmt.Errorf("line %d: a second output block for the step at line %d", cur.line, steps[cur.prevStep].Line)
					}
					steps[cur.prevStep].Want = wantLines(cur.body)
					lastEnd = cur.prevStep
				}
			}
			cur = nil
			continue
		}
		cur.body = append(cur.body, line)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if cur != nil {
		return nil, fmt.Errorf("line %d: block never closed", cur.line)
	}
	return steps, nil
}

func newWalkStep(line int, args string, body []string) (walkStep, error) {
	s := walkStep{Line: line, Script: strings.Join(body, "\n")}
	if strings.TrimSpace(s.Script) == "" {
		return s, fmt.Errorf("line %d: empty sh block", line)
	}
	for _, w := range strings.Fields(args) {
		k, v, ok := strings.Cut(w, "=")
		var err error
		switch {
		case ok && k == "exit":
			s.Exit, err = strconv.Atoi(v)
		case ok && k == "retry":
			s.Retry, err = time.ParseDuration(v)
		default:
			err = fmt.Errorf("unknown word (want exit=N or retry=DURATION)")
		}
		if err != nil {
			return s, fmt.Errorf("line %d: sh block qualifier %q: %w", line, w, err)
		}
	}
	return s, nil
}

// wantLines normalises the lines of an output block, dropping blank ones.
func wantLines(body []string) []string {
	var out []string
	for _, l := range body {
		if l = squeeze(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// squeeze trims a line and turns every run of white space into one space.
func squeeze(s string) string { return strings.Join(strings.Fields(s), " ") }

// matchLine reports whether a normalised output line matches a pattern with `...` wildcards.
func matchLine(pattern, line string) bool {
	rest := line
	for _, p := range strings.Split(pattern, "...") {
		p = strings.TrimSpace(p)
		j := strings.Index(rest, p)
		if j < 0 {
			return false
		}
		rest = rest[j+len(p):]
	}
	return true
}

// matchOutput checks that want matches a subsequence of the output's lines; it returns the
// first pattern that found no line.
func matchOutput(want []string, output string) (string, bool) {
	lines := strings.Split(output, "\n")
	i := 0
	for _, w := range want {
		if w == "..." {
			continue
		}
		for ; i < len(lines); i++ {
			if matchLine(w, squeeze(lines[i])) {
				break
			}
		}
		if i == len(lines) {
			return w, false
		}
		i++
	}
	return "", true
}

// stepTimeout bounds one run of a step; starting a Kubernetes-mode lab alone takes about
// 40 seconds, more on a loaded machine.
const stepTimeout = 3 * time.Minute

// runStep runs a step once and returns its combined output and exit code.
func runStep(ctx context.Context, dir string, env []string, s walkStep) (string, int, error) {
	ctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-e", "-o", "pipefail", "-c", s.Script)
	cmd.Dir, cmd.Env = dir, env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return out.String(), ee.ExitCode(), nil
	}
	return out.String(), 0, err
}

// checkStep runs a step (again, while it has retry time left) and returns its last output,
// how many runs it took and why it failed.
func checkStep(ctx context.Context, dir string, env []string, s walkStep) (string, int, error) {
	deadline := time.Now().Add(s.Retry)
	for runs := 1; ; runs++ {
		out, code, err := runStep(ctx, dir, env, s)
		if err != nil {
			return out, runs, err
		}
		var problem error
		if code != s.Exit {
			problem = fmt.Errorf("exit code %d, want %d", code, s.Exit)
		} else if w, ok := matchOutput(s.Want, out); !ok {
			problem = fmt.Errorf("no output line matches %q", w)
		}
		if problem == nil || time.Now().After(deadline) {
			return out, runs, problem
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// walkthroughFiles returns the etcd-mode walkthroughs, then the Kubernetes-mode ones.
func walkthroughFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	for _, dir := range []string{*walkthroughDocs, filepath.Join(*walkthroughDocs, kubeWalkDir)} {
		fs, err := filepath.Glob(filepath.Join(dir, "*.md"))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, fs...)
	}
	var out []string
	for _, f := range files {
		if filepath.Base(f) != "README.md" {
			out = append(out, f)
		}
	}
	if len(out) == 0 {
		t.Fatalf("no walkthroughs in %s", *walkthroughDocs)
	}
	return out
}

// TestWalkthroughs runs every walkthrough against a fresh lab of its own, as many at a
// time as -parallel allows (labs are independent; most of their time is spent waiting).
func TestWalkthroughs(t *testing.T) {
	needRoot(t)
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range walkthroughFiles(t) {
		kube := isKubeWalkthrough(file)
		t.Run(walkthroughName(file), func(t *testing.T) {
			t.Parallel()
			if kube {
				needKube(t)
			}
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			steps, err := parseWalkthrough(string(data))
			if err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			for _, c := range walkRequires(string(data)) {
				if _, err := exec.LookPath(c); err != nil {
					t.Skipf("%s needs %s, which is not installed (scripts/setup.sh installs what the labs use)", filepath.Base(file), c)
				}
			}
			if kube {
				kubeWalkSlot <- struct{}{}
				t.Cleanup(func() { <-kubeWalkSlot }) // after the lab down below: cleanups run last first
			}
			var b [3]byte
			_, _ = rand.Read(b[:])
			name := "trlw" + hex.EncodeToString(b[:])
			t.Cleanup(func() {
				if r := run(t, name, "lab", "down", "--name", name); r.code != 0 {
					t.Errorf("lab down %s: exit %d: %s", name, r.code, r.stderr)
				}
			})
			start := time.Now()
			env := walkEnv(name, kube)
			for _, s := range steps {
				t0 := time.Now()
				out, runs, err := checkStep(context.Background(), root, env, s)
				if err != nil {
					t.Fatalf("%s:%d: %v (after %d runs in %v)\n--- script:\n%s\n--- output:\n%s--- want:\n%s",
						file, s.Line, err, runs, time.Since(t0).Round(time.Millisecond), s.Script, out, strings.Join(s.Want, "\n"))
				}
				if d := time.Since(t0); runs > 1 || d > 5*time.Second {
					t.Logf("%s:%d passed after %d runs in %v", filepath.Base(file), s.Line, runs, d.Round(time.Millisecond))
				}
			}
			t.Logf("%d steps in %v", len(steps), time.Since(start).Round(time.Millisecond))
		})
	}
}

// walkthroughName names a walkthrough's subtest: its file name, with the Kubernetes-mode
// ones under kubernetes/.
func walkthroughName(file string) string {
	n := strings.TrimSuffix(filepath.Base(file), ".md")
	if isKubeWalkthrough(file) {
		return kubeWalkDir + "/" + n
	}
	return n
}

// walkEnv is the environment of a walkthrough's steps: the trellis under test first on
// PATH, LAB, and the datastore of that lab (its etcd socket, or its API server through the
// admin kubeconfig with kubectl on PATH).
func walkEnv(name string, kube bool) []string {
	path := filepath.Dir(binary)
	if kube {
		path += string(os.PathListSeparator) + kubebin.BinDir()
	}
	env := append(os.Environ(), "PATH="+path+string(os.PathListSeparator)+os.Getenv("PATH"), "LAB="+name)
	if kube {
		return append(env, "KUBECONFIG="+KubeconfigPath(name), "TRELLIS_DATASTORE_TYPE=kubernetes")
	}
	return append(env, "TRELLIS_DATASTORE_ENDPOINTS="+Endpoint(name))
}

// TestWalkthroughLinks needs no root: every relative link of the walkthroughs and their
// index points at a file that exists.
func TestWalkthroughLinks(t *testing.T) {
	linkRE := regexp.MustCompile(`\]\(([^)#\s]+)(#[^)]*)?\)`)
	files := append(walkthroughFiles(t), filepath.Join(*walkthroughDocs, "README.md"))
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range linkRE.FindAllStringSubmatch(string(data), -1) {
			if strings.Contains(m[1], "://") {
				continue
			}
			if _, err := os.Stat(filepath.Join(filepath.Dir(file), m[1])); err != nil {
				t.Errorf("%s: broken link %s: %v", filepath.Base(file), m[1], err)
			}
		}
	}
}

// TestWalkthroughsAreWellFormed needs no root: every walkthrough parses, starts a lab of
// its own, takes it down at the end, and every file it applies exists.
func TestWalkthroughsAreWellFormed(t *testing.T) {
	fileRE := regexp.MustCompile(`-f\s+(examples/\S+)`)
	for _, file := range walkthroughFiles(t) {
		up := `lab up --name "$LAB"`
		if isKubeWalkthrough(file) {
			up = `lab up --kubernetes --name "$LAB"`
		}
		t.Run(walkthroughName(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			steps, err := parseWalkthrough(string(data))
			if err != nil {
				t.Fatal(err)
			}
			if len(steps) < 3 {
				t.Fatalf("%d steps, want a lab up, something, a lab down", len(steps))
			}
			if first := steps[0].Script + steps[1].Script; !strings.Contains(first, up) {
				t.Errorf("the first steps do not start the lab with %s:\n%s", up, first)
			}
			if last := steps[len(steps)-1].Script; !strings.Contains(last, "lab down --name \"$LAB\"") {
				t.Errorf("the last step does not take the lab down with --name \"$LAB\":\n%s", last)
			}
			for _, s := range steps {
				for _, l := range strings.Split(s.Script, "\n") {
					if strings.Contains(l, "trellis lab ") && !strings.Contains(l, "--name \"$LAB\"") {
						t.Errorf("line %d: a lab command without --name \"$LAB\" would act on another lab: %s", s.Line, l)
					}
				}
				for _, m := range fileRE.FindAllStringSubmatch(s.Script, -1) {
					if _, err := os.Stat(filepath.Join("../..", m[1])); err != nil {
						t.Errorf("line %d: %v", s.Line, err)
					}
				}
			}
		})
	}
}

func TestParseWalkthrough(t *testing.T) {
	doc := strings.Join([]string{
		"# A lab",
		"```sh",
		"trellis lab up --name \"$LAB\"",
		"```",
		"",
		"```text",
		"lab ... is up",
		"```",
		"Prose.",
		"```yaml",
		"kind: Pod",
		"```",
		"```sh exit=1 retry=2s",
		"false",
		"```",
		"Prose breaks the link to the output block.",
		"```text",
		"not an expectation",
		"```",
		"````sh",
		"echo '```'",
		"````",
	}, "\n")
	got, err := parseWalkthrough(doc)
	if err != nil {
		t.Fatal(err)
	}
	want := []walkStep{
		{Line: 2, Script: "trellis lab up --name \"$LAB\"", Want: []string{"lab ... is up"}},
		{Line: 13, Script: "false", Exit: 1, Retry: 2 * time.Second},
		{Line: 20, Script: "echo '```'"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("steps (-want +got):\n%s", diff)
	}

	for name, bad := range map[string]string{
		"unknown qualifier": "```sh expect=1\ntrue\n```",
		"bad duration":      "```sh retry=soon\ntrue\n```",
		"empty":             "```sh\n\n```",
		"unclosed":          "```sh\ntrue\n",
		"two outputs":       "```sh\ntrue\n```\n```text\na\n```\n```text\nb\n```",
	} {
		t.Run(name, func(t *testing.T) {
			if steps, err := parseWalkthrough(bad); err == nil {
				t.Errorf("no error, steps %+v", steps)
			}
		})
	}
}

func TestMatchOutput(t *testing.T) {
	output := "NAME     STATUS    IP\nbatch    Running   10.244.11.64\nweb      Running   10.244.197.1\ncompare: no disagreement\n"
	for _, tc := range []struct {
		name string
		want []string
		ok   bool
	}{
		{"nothing wanted", nil, true},
		{"spaces squeezed", []string{"web Running 10.244.197.1"}, true},
		{"wildcard", []string{"web Running 10.244...."}, true},
		{"in order with gaps", []string{"NAME STATUS IP", "...", "compare: no disagreement"}, true},
		{"out of order", []string{"web", "batch"}, false},
		{"missing", []string{"client Running"}, false},
		{"one line used once", []string{"web Running", "web Running"}, false},
		{"wildcard parts in order", []string{"10.244 ... web"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if w, ok := matchOutput(tc.want, output); ok != tc.ok {
				t.Errorf("matchOutput(%q) = %v (first unmatched %q), want %v", tc.want, ok, w, tc.ok)
			}
		})
	}
}

func TestWalkRequires(t *testing.T) {
	doc := "# Lab\n<!-- requires: bird curl -->\ntext <!-- requires: no -->\n<!-- requires: tcpdump -->\n"
	if diff := cmp.Diff([]string{"bird", "curl", "tcpdump"}, walkRequires(doc)); diff != "" {
		t.Errorf("walkRequires (-want +got):\n%s", diff)
	}
}
