package ctl

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/client-go/util/jsonpath"
)

// output is a parsed -o value.
type output struct {
	format string // table, wide, yaml, json, name, jsonpath
	jp     *jsonpath.JSONPath
}

// outputFormats are the -o values, for help and completion.
var outputFormats = []string{"table", "wide", "yaml", "json", "name", "jsonpath="}

func parseOutput(s string) (output, error) {
	if tmpl, ok := strings.CutPrefix(s, "jsonpath="); ok {
		jp := jsonpath.New("output").AllowMissingKeys(true)
		if err := jp.Parse(tmpl); err != nil {
			return output{}, Usagef("invalid jsonpath template %q: %v", tmpl, err)
		}
		return output{format: "jsonpath", jp: jp}, nil
	}
	switch s {
	case "table", "wide", "yaml", "json", "name":
		return output{format: s}, nil
	}
	return output{}, Usagef("unknown output format %q: use table, wide, yaml, json, name or jsonpath=TEMPLATE", s)
}

// structured reports whether the format prints whole objects rather than rows.
func (o output) structured() bool {
	return o.format == "yaml" || o.format == "json" || o.format == "jsonpath"
}

// jsonpath executes the template over v's JSON form, as kubectl does.
func (o output) jsonpath(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	var data any
	if err := json.Unmarshal(b, &data); err != nil {
		return err
	}
	if err := o.jp.Execute(w, data); err != nil {
		return fmt.Errorf("jsonpath: %w", err)
	}
	_, err = fmt.Fprintln(w)
	return err
}

func completeOutput(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return outputFormats, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace
}
