package model

import (
	"net/netip"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// validateBGPFilter checks every rule list of a BGPFilter: each CIDR parses, is of the
// list's family and comes with a match operator (and the other way round), prefix lengths
// lie within the family's range with min <= max, and action and source are known.
func validateBGPFilter(s *BGPFilterSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, l := range []struct {
		name  string
		rules []BGPFilterRule
		v6    bool
	}{{"exportV4", s.ExportV4, false}, {"importV4", s.ImportV4, false},
		{"exportV6", s.ExportV6, true}, {"importV6", s.ImportV6, true}} {
		for i := range l.rules {
			errs = append(errs, validateBGPFilterRule(&l.rules[i], l.v6, p.Child(l.name).Index(i))...)
		}
	}
	return errs
}

func validateBGPFilterRule(r *BGPFilterRule, v6 bool, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	bits := 32
	if v6 {
		bits = 128
	}
	if r.Action == "" {
		errs = append(errs, field.Required(p.Child("action"), "Accept or Reject"))
	} else {
		errs = append(errs, notSupported(p.Child("action"), r.Action, BGPFilterAccept, BGPFilterReject)...)
	}
	cidrBits := 0
	switch {
	case r.CIDR == "" && r.MatchOperator != "":
		errs = append(errs, field.Required(p.Child("cidr"), "required with matchOperator"))
	case r.CIDR != "" && r.MatchOperator == "":
		errs = append(errs, field.Required(p.Child("matchOperator"), "required with cidr"))
	}
	if r.MatchOperator != "" {
		errs = append(errs, notSupported(p.Child("matchOperator"), r.MatchOperator,
			BGPFilterEqual, BGPFilterNotEqual, BGPFilterIn, BGPFilterNotIn)...)
	}
	if r.CIDR != "" {
		pf, err := netip.ParsePrefix(r.CIDR)
		switch {
		case err != nil:
			errs = append(errs, field.Invalid(p.Child("cidr"), r.CIDR, "must be a CIDR"))
		case pf.Addr().Is4() == v6 || pf.Addr().Is4In6():
			fam := "IPv4"
			if v6 {
				fam = "IPv6"
			}
			errs = append(errs, field.Invalid(p.Child("cidr"), r.CIDR, "must be an "+fam+" CIDR"))
		default:
			cidrBits = pf.Bits()
		}
	}
	if pl := r.PrefixLength; pl != nil {
		pp := p.Child("prefixLength")
		if r.CIDR == "" {
			errs = append(errs, field.Forbidden(pp, "requires cidr"))
		}
		if r.MatchOperator == BGPFilterEqual || r.MatchOperator == BGPFilterNotEqual {
			errs = append(errs, field.Forbidden(pp, "only allowed with matchOperator In or NotIn"))
		}
		for _, b := range []struct {
			name string
			v    *int32
		}{{"min", pl.Min}, {"max", pl.Max}} {
			if b.v != nil && (*b.v < 0 || int(*b.v) > bits) {
				errs = append(errs, field.Invalid(pp.Child(b.name), *b.v, "must be between 0 and the family's address length"))
			}
		}
		if pl.Min != nil && pl.Max != nil && *pl.Min > *pl.Max {
			errs = append(errs, field.Invalid(pp.Child("min"), *pl.Min, "must not exceed max"))
		}
		if pl.Min != nil && cidrBits > 0 && int(*pl.Min) < cidrBits {
			errs = append(errs, field.Invalid(pp.Child("min"), *pl.Min, "must not be shorter than the cidr's prefix length"))
		}
	}
	if r.Source != "" {
		errs = append(errs, notSupported(p.Child("source"), r.Source, BGPFilterSourceRemotePeers)...)
	}
	return errs
}
