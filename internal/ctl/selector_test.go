package ctl

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/trellisnet/trellis/internal/selector"
)

func runSelectorCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := NewSelectorCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(append([]string{}, args...)) // never nil: cobra would read os.Args
	cmd.SilenceUsage = true
	cmd.SilenceErrors = true
	err := cmd.Execute()
	return out.String(), err
}

func TestSelectorMatch(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"equal", []string{"match", `app == "web"`, "app=web"}, "true\n"},
		{"not equal value", []string{"match", `app == "web"`, "app=db"}, "false\n"},
		{"no labels", []string{"match", `app == "web"`}, "false\n"},
		{"absent label with !=", []string{"match", `app != "web"`}, "true\n"},
		{"empty value", []string{"match", `has(app) && app == ""`, "app="}, "true\n"},
		{"value with =", []string{"match", `q == "a=b"`, "q=a=b"}, "true\n"},
		{"complex", []string{"match", `tier in {"a","b"} && !has(x) || all()`, "tier=c"}, "true\n"},
		{"set membership", []string{"match", `tier in {"a","b"} && !has(x)`, "tier=c", "y=1"}, "false\n"},
		{"empty selector", []string{"match", ``}, "true\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := runSelectorCmd(t, tt.args...)
			if err != nil {
				t.Fatalf("selector %v: %v", tt.args, err)
			}
			if got != tt.want {
				t.Errorf("selector %v printed %q, want %q", tt.args, got, tt.want)
			}
		})
	}
}

func TestSelectorCanonical(t *testing.T) {
	got, err := runSelectorCmd(t, "canonical", `a=='1'&&b in {'y','x','y'}||!c=="2"`)
	if err != nil {
		t.Fatal(err)
	}
	const want = `((a == "1" && b in {"x", "y"}) || !(c == "2"))` + "\n"
	if got != want {
		t.Errorf("canonical printed %q, want %q", got, want)
	}
}

func TestSelectorErrors(t *testing.T) {
	tests := []struct {
		name      string
		args      []string
		wantUsage bool
		wantText  string
	}{
		{"invalid selector", []string{"match", `app ==`, "app=web"}, false, `invalid selector "app ==": expected a quoted value at offset 6`},
		{"invalid canonical", []string{"canonical", `a in {`}, false, "at offset 6"},
		{"label without =", []string{"match", `has(a)`, "app"}, true, `"app": want KEY=VALUE`},
		{"label with empty key", []string{"match", `has(a)`, "=x"}, true, "want KEY=VALUE"},
		{"repeated label", []string{"match", `has(a)`, "a=1", "a=2"}, true, "given twice"},
		{"no subcommand", nil, true, "subcommand is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := runSelectorCmd(t, tt.args...)
			if err == nil {
				t.Fatalf("selector %v printed %q and succeeded, want an error", tt.args, out)
			}
			if out != "" {
				t.Errorf("selector %v printed %q on failure, want nothing", tt.args, out)
			}
			var u UsageError
			if errors.As(err, &u) != tt.wantUsage {
				t.Errorf("selector %v: error %v is usage error: %v, want %v", tt.args, err, !tt.wantUsage, tt.wantUsage)
			}
			if !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("selector %v: error %q does not contain %q", tt.args, err, tt.wantText)
			}
			var pe *selector.ParseError
			if !tt.wantUsage && tt.args != nil && !errors.As(err, &pe) {
				t.Errorf("selector %v: error %v does not wrap a *selector.ParseError", tt.args, err)
			}
		})
	}
}
