package ctl

import (
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/trellisnet/trellis/deploy/crds"
	"github.com/trellisnet/trellis/internal/model"
)

// schema is the part of a CRD's OpenAPI v3 schema explain reads.
type schema struct {
	Description string            `json:"description"`
	Type        string            `json:"type"`
	Format      string            `json:"format"`
	Properties  map[string]schema `json:"properties"`
	Items       *schema           `json:"items"`
	Required    []string          `json:"required"`
	Enum        []any             `json:"enum"`
	IntOrString bool              `json:"x-kubernetes-int-or-string"`
	AddlProps   *schema           `json:"additionalProperties"`
	Validations []map[string]any  `json:"x-kubernetes-validations"`
	Default     any               `json:"default"`
}

type crdDoc struct {
	Spec struct {
		Versions []struct {
			Name   string `json:"name"`
			Schema struct {
				OpenAPIV3Schema schema `json:"openAPIV3Schema"`
			} `json:"schema"`
		} `json:"versions"`
	} `json:"spec"`
}

// NewExplainCmd returns `trellis explain KIND[.FIELD...]`: the documentation of a kind's
// fields, read from the CRDs Trellis serves them with (deploy/crds).
func NewExplainCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "explain KIND[.FIELD...]",
		Short: "Document a kind's fields (from Trellis's CRD schemas)",
		Long: "Print the description, type and fields of a Trellis or Calico kind, or of a field\n" +
			"inside it, as `kubectl explain` does for a cluster. Kubernetes' own kinds (Pod,\n" +
			"Service, NetworkPolicy, ...) are documented by `kubectl explain`.",
		Example:           "  trellis explain globalnetworkpolicy.spec\n  trellis explain ippool.spec.ipipMode",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeKindsAndNames(nil),
		RunE: func(c *cobra.Command, args []string) error {
			name, path, _ := strings.Cut(args[0], ".")
			kind, err := model.Resolve(name)
			if err != nil {
				return UsageError{Err: err}
			}
			root, err := kindSchema(kind)
			if err != nil {
				return err
			}
			var fields []string
			if path != "" {
				fields = strings.Split(path, ".")
			}
			return explain(c.OutOrStdout(), kind, root, fields)
		},
	}
}

// kindSchema reads the kind's schema from its CRD.
func kindSchema(kind *model.Kind) (schema, error) {
	data, err := fs.ReadFile(crds.FS, crds.FileName(kind.Group, kind.Plural))
	if err != nil {
		return schema{}, fmt.Errorf("explain %s: no schema here (a Kubernetes kind? use kubectl explain)", kind.Resource())
	}
	var doc crdDoc
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return schema{}, fmt.Errorf("explain %s: read its CRD: %w", kind.Resource(), err)
	}
	for _, v := range doc.Spec.Versions {
		if v.Name == kind.Version {
			return v.Schema.OpenAPIV3Schema, nil
		}
	}
	return schema{}, fmt.Errorf("explain %s: its CRD has no version %s", kind.Resource(), kind.Version)
}

func explain(w io.Writer, kind *model.Kind, s schema, fields []string) error {
	for i, f := range fields {
		next, ok := s.Properties[f]
		if !ok && s.Items != nil {
			next, ok = s.Items.Properties[f]
		}
		if !ok {
			return UsageError{Err: fmt.Errorf("field %q does not exist in %s", strings.Join(fields[:i+1], "."), strings.ToLower(kind.Kind))}
		}
		s = next
	}
	fmt.Fprintf(w, "KIND:     %s\nVERSION:  %s\n\n", kind.Kind, kind.APIVersion())
	if len(fields) > 0 {
		fmt.Fprintf(w, "FIELD: %s <%s>\n\n", fields[len(fields)-1], typeName(s))
	}
	fmt.Fprintf(w, "DESCRIPTION:\n%s\n", indent(orDefault(s.Description, "<empty>"), "    "))
	if len(s.Enum) > 0 {
		fmt.Fprintf(w, "    Allowed values: %s\n", enumList(s.Enum))
	}
	props := s.Properties
	if len(props) == 0 && s.Items != nil {
		props = s.Items.Properties
	}
	if len(props) == 0 {
		return nil
	}
	fmt.Fprintf(w, "\nFIELDS:\n")
	names := make([]string, 0, len(props))
	for n := range props {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		p := props[n]
		req := ""
		if slices.Contains(s.Required, n) || (s.Items != nil && slices.Contains(s.Items.Required, n)) {
			req = " -required-"
		}
		fmt.Fprintf(w, "  %s\t<%s>%s\n%s\n\n", n, typeName(p), req, indent(firstParagraph(p.Description), "    "))
	}
	return nil
}

func typeName(s schema) string {
	switch {
	case s.IntOrString:
		return "integer or string"
	case s.Type == "array" && s.Items != nil:
		return "[]" + typeName(*s.Items)
	case s.Type == "object" && len(s.Properties) == 0 && s.AddlProps != nil:
		return "map[string]" + typeName(*s.AddlProps)
	case s.Type == "object":
		return "Object"
	case s.Type == "":
		return "Object"
	}
	return s.Type
}

func enumList(vs []any) string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = fmt.Sprint(v)
	}
	return strings.Join(out, ", ")
}

func firstParagraph(s string) string {
	if s == "" {
		return "<no description>"
	}
	p, _, _ := strings.Cut(s, "\n\n")
	return p
}

func indent(s, pre string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = pre + l
	}
	return strings.Join(lines, "\n")
}
