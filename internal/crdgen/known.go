package crdgen

import (
	"fmt"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/controller-tools/pkg/crd"
	crdmarkers "sigs.k8s.io/controller-tools/pkg/crd/markers"
	"sigs.k8s.io/controller-tools/pkg/loader"
	"sigs.k8s.io/controller-tools/pkg/markers"
)

// overrideModel gives the schemas of internal/model's numorstring types, which are Go
// structs or integers with custom JSON methods (Calico's numorstring.Port, Protocol and
// ASNumber): a number or a string, checked by CEL rules. Every other type of the package is
// generated from its fields and markers as usual.
func overrideModel(p *crd.Parser, pkg *loader.Package) {
	for name, s := range numOrString {
		p.Schemata[crd.TypeIdent{Name: name, Package: pkg}] = s
	}
	p.AddPackage(pkg)
}

// intOrString is a number or a string of at most 15 characters (a port name's limit, more
// than "65535:65535", "UDPLite" or "4294967295") matching pattern. The string's form is a
// pattern, which costs nothing of the API server's CEL budget; CEL checks only what a
// pattern cannot (number ranges, port range order), so that policies with many rules fit.
func intOrString(desc, pattern string, rules ...apiextensionsv1.ValidationRule) apiextensionsv1.JSONSchemaProps {
	maxLen := int64(15)
	return apiextensionsv1.JSONSchemaProps{
		Description:  desc,
		MaxLength:    &maxLen,
		Pattern:      pattern,
		XIntOrString: true,
		AnyOf:        []apiextensionsv1.JSONSchemaProps{{Type: "integer"}, {Type: "string"}},
		XValidations: rules,
	}
}

// numOrString are the schemas by Go type name.
var numOrString = map[string]apiextensionsv1.JSONSchemaProps{
	"Port": intOrString(
		"A port: a number (80), a range \"min:max\" (\"1000:2000\") or the name of a named port "+
			"of the selected endpoints (\"http\").",
		`^([0-9]{1,5}(:[0-9]{1,5})?|[a-z0-9]([-a-z0-9]*[a-z0-9])?)$`,
		apiextensionsv1.ValidationRule{
			Rule:    "type(self) != int || (self >= 0 && self <= 65535)",
			Message: "a port number must be 0-65535",
		},
		apiextensionsv1.ValidationRule{
			Rule: "type(self) == int || !self.contains(':') || " +
				"(int(self.split(':')[0]) <= int(self.split(':')[1]) && int(self.split(':')[1]) <= 65535)",
			Message: "a port range must be \"min:max\" with 0 <= min <= max <= 65535",
		},
	),
	"Protocol": intOrString(
		"An IP protocol: TCP, UDP, ICMP, ICMPv6, SCTP, UDPLite or a number 1-255.",
		`^(TCP|UDP|ICMP|ICMPv6|SCTP|UDPLite|[0-9]{1,3})$`,
		apiextensionsv1.ValidationRule{
			Rule:    "type(self) != int || (self >= 1 && self <= 255)",
			Message: "a protocol number must be 1-255",
		},
	),
	"ASNumber": intOrString(
		"A BGP AS number: 0-4294967295, as a number or a string in plain (\"64512\") or dotted "+
			"(\"1.10\") notation.",
		`^[0-9]{1,10}(\.[0-9]{1,5})?$`,
		apiextensionsv1.ValidationRule{
			Rule:    "type(self) != int || (self >= 0 && self <= 4294967295)",
			Message: "an AS number must be 0-4294967295",
		},
	),
}

// NetMarkerName is a field marker of internal/model for addresses in lists, where a CEL rule
// would exceed the API server's cost budget: `+trellis:validation:Net=cidr` (a CIDR),
// `=ip` (an IP address) or `=cidr-or-ip` on a string or a list of strings. It sets OpenAPI
// formats, which the API server checks at no CEL cost (net.ParseCIDR, net.ParseIP).
const NetMarkerName = "trellis:validation:Net"

// NetFormat is the value of the +trellis:validation:Net marker.
type NetFormat string

// ApplyToSchema sets the format(s) on the string, or on the items of the list of strings.
func (n NetFormat) ApplyToSchema(_ *crdmarkers.SchemaContext, s *apiextensionsv1.JSONSchemaProps) error {
	target := s
	if s.Type == "array" && s.Items != nil && s.Items.Schema != nil {
		target = s.Items.Schema
	}
	if target.Type != "string" {
		return fmt.Errorf("+%s applies to a string or a list of strings, not %s", NetMarkerName, target.Type)
	}
	maxLen := int64(64)
	target.MaxLength = &maxLen
	either := func(formats ...string) []apiextensionsv1.JSONSchemaProps {
		var out []apiextensionsv1.JSONSchemaProps
		for _, f := range formats {
			out = append(out, apiextensionsv1.JSONSchemaProps{Format: f})
		}
		return out
	}
	switch n {
	case "cidr":
		target.Format = "cidr"
	case "ip":
		target.AnyOf = either("ipv4", "ipv6")
	case "cidr-or-ip":
		target.AnyOf = either("cidr", "ipv4", "ipv6")
	default:
		return fmt.Errorf("+%s=%s: want cidr, ip or cidr-or-ip", NetMarkerName, n)
	}
	return nil
}

func registerMarkers(reg *markers.Registry) error {
	if err := crdmarkers.Register(reg); err != nil {
		return err
	}
	def, err := markers.MakeDefinition(NetMarkerName, markers.DescribesField, NetFormat(""))
	if err != nil {
		return err
	}
	return reg.Register(def)
}
