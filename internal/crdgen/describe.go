package crdgen

import (
	"strings"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
)

// unwrap rejoins the lines of every description in s: controller-tools keeps the line breaks
// of the Go doc comments, which kubectl explain would print in the middle of its own
// wrapped lines. Paragraphs (blank lines) are kept.
func unwrap(s *apiextensionsv1.JSONSchemaProps) {
	if s == nil {
		return
	}
	s.Description = unwrapText(s.Description)
	for k, p := range s.Properties {
		unwrap(&p)
		s.Properties[k] = p
	}
	if s.Items != nil {
		unwrap(s.Items.Schema)
		for i := range s.Items.JSONSchemas {
			unwrap(&s.Items.JSONSchemas[i])
		}
	}
	if s.AdditionalProperties != nil {
		unwrap(s.AdditionalProperties.Schema)
	}
	for _, list := range [][]apiextensionsv1.JSONSchemaProps{s.AllOf, s.AnyOf, s.OneOf} {
		for i := range list {
			unwrap(&list[i])
		}
	}
}

func unwrapText(d string) string {
	paras := strings.Split(d, "\n\n")
	for i, p := range paras {
		paras[i] = strings.Join(strings.Fields(p), " ")
	}
	return strings.Join(paras, "\n\n")
}
