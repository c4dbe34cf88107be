package ctl

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	networkingv1 "k8s.io/api/networking/v1"

	"github.com/trellisnet/trellis/internal/connectivity"
	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/policy"
	"github.com/trellisnet/trellis/internal/store"
)

// NewDescribeCmd returns `trellis describe KIND NAME`: a policy in words, with the
// endpoints it selects now.
func NewDescribeCmd(o *Options) *cobra.Command {
	var namespace string
	c := &cobra.Command{
		Use:   "describe KIND NAME",
		Short: "Describe a policy: what it selects, its rules in words, the endpoints it applies to",
		Long: "Describe a GlobalNetworkPolicy, NetworkPolicy (Calico or Kubernetes: knp) or staged\n" +
			"policy: its tier and order, selector, rules in words, and the endpoints it applies to\n" +
			"now, per direction, as the calculation sees the datastore.",
		Example:           "  trellis describe gnp default-deny\n  trellis describe knp allow-web -n prod",
		Args:              cobra.ExactArgs(2),
		ValidArgsFunction: completeKindsAndNames(o),
		RunE: func(c *cobra.Command, args []string) error {
			kind, err := model.Resolve(args[0])
			if err != nil {
				return UsageError{Err: err}
			}
			if !describable(kind) {
				return Usagef("describe explains policies (gnp, netpol, knp, sgnp, snp), not %s", kind.Resource())
			}
			st, err := o.OpenStore(c.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			obj, err := st.Get(c.Context(), kind, namespaceFor(kind, namespace), args[1])
			if err != nil {
				return fmt.Errorf("describe %s %s: %w", strings.ToLower(kind.Kind), args[1], err)
			}
			return describe(c.Context(), st, c.OutOrStdout(), obj)
		},
	}
	c.Flags().StringVarP(&namespace, "namespace", "n", "", "namespace (default \"default\")")
	return c
}

func describable(k *model.Kind) bool {
	return slices.Contains([]*model.Kind{model.KindGlobalNetworkPolicy, model.KindNetworkPolicy, model.KindK8sNetworkPolicy,
		model.KindStagedGlobalNetworkPolicy, model.KindStagedNetworkPolicy}, k)
}

// describe writes the policy and the endpoints it applies to.
func describe(ctx context.Context, st store.Store, w io.Writer, obj model.Object) error {
	id, staged := describeHeader(w, obj)
	if staged {
		fmt.Fprintln(w, "Applies to:\tnothing: a staged policy is evaluated, never enforced")
		return nil
	}
	objs, err := connectivity.Objects(ctx, st)
	if err != nil {
		return err
	}
	sc, err := connectivity.Build(objs, false)
	if err != nil {
		return err
	}
	in, out := sc.SelectedBy(id)
	writeEndpoints(w, "Ingress applies to", in)
	writeEndpoints(w, "Egress applies to", out)
	return nil
}

func writeEndpoints(w io.Writer, title string, eps []string) {
	fmt.Fprintf(w, "%s (%d):\n", title, len(eps))
	for _, e := range eps {
		fmt.Fprintf(w, "  %s\n", e)
	}
}

// describeHeader writes the policy's fields and rules; it returns the policy's ID in the
// calculation and whether it is staged.
func describeHeader(w io.Writer, obj model.Object) (policy.PolicyID, bool) {
	key, _ := model.KeyOf(obj)
	fmt.Fprintf(w, "Name:\t%s\n", obj.GetName())
	if obj.GetNamespace() != "" {
		fmt.Fprintf(w, "Namespace:\t%s\n", obj.GetNamespace())
	}
	fmt.Fprintf(w, "Kind:\t%s (%s)\n", key.Kind.Kind, key.Kind.APIVersion())
	switch p := obj.(type) {
	case *model.GlobalNetworkPolicy:
		s := p.Spec
		writeCalicoPolicy(w, s.Tier, s.Order, s.Selector, s.NamespaceSelector, s.Types, s.Ingress, s.Egress)
		return policy.PolicyID{Kind: policy.PolicyGlobal, Name: p.Name}, false
	case *model.NetworkPolicy:
		s := p.Spec
		writeCalicoPolicy(w, s.Tier, s.Order, s.Selector, "", s.Types, s.Ingress, s.Egress)
		return policy.PolicyID{Kind: policy.PolicyNamespaced, Namespace: p.Namespace, Name: p.Name}, false
	case *model.StagedGlobalNetworkPolicy:
		s := p.Spec
		fmt.Fprintf(w, "Staged action:\t%s\n", orDefault(string(s.StagedAction), "Set"))
		writeCalicoPolicy(w, s.Tier, s.Order, s.Selector, s.NamespaceSelector, s.Types, s.Ingress, s.Egress)
	case *model.StagedNetworkPolicy:
		s := p.Spec
		fmt.Fprintf(w, "Staged action:\t%s\n", orDefault(string(s.StagedAction), "Set"))
		writeCalicoPolicy(w, s.Tier, s.Order, s.Selector, "", s.Types, s.Ingress, s.Egress)
	case *networkingv1.NetworkPolicy:
		writeK8sPolicy(w, p)
		return policy.PolicyID{Kind: policy.PolicyKubernetes, Namespace: p.Namespace, Name: policy.K8sPolicyPrefix + p.Name}, false
	}
	return policy.PolicyID{}, true
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func writeCalicoPolicy(w io.Writer, tier string, order *float64, sel, nsSel string, types []model.PolicyType, ingress, egress []model.Rule) {
	fmt.Fprintf(w, "Tier:\t%s\n", orDefault(tier, "default"))
	if order != nil {
		fmt.Fprintf(w, "Order:\t%g\n", *order)
	} else {
		fmt.Fprintln(w, "Order:\tnone (after every ordered policy of the tier)")
	}
	fmt.Fprintf(w, "Selector:\t%s\n", orDefault(sel, "all()"))
	if nsSel != "" {
		fmt.Fprintf(w, "Namespace selector:\t%s\n", nsSel)
	}
	var ts []string
	for _, t := range types {
		ts = append(ts, string(t))
	}
	fmt.Fprintf(w, "Types:\t%s\n", strings.Join(ts, ", "))
	writeRules(w, "Ingress rules", ingress, slices.Contains(types, model.PolicyType("Ingress")))
	writeRules(w, "Egress rules", egress, slices.Contains(types, model.PolicyType("Egress")))
}

func writeRules(w io.Writer, title string, rules []model.Rule, applies bool) {
	switch {
	case !applies:
		fmt.Fprintf(w, "%s:\tnot applied (type not listed)\n", title)
		return
	case len(rules) == 0:
		fmt.Fprintf(w, "%s:\tnone: the tier's end decides (deny unless the tier passes)\n", title)
		return
	}
	fmt.Fprintf(w, "%s:\n", title)
	for i, r := range rules {
		fmt.Fprintf(w, "  %d. %s\n", i+1, ruleInWords(r))
	}
}
