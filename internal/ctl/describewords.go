package ctl

import (
	"fmt"
	"io"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/trellisnet/trellis/internal/model"
)

// ruleInWords says a Calico rule as a sentence: action, protocol, from, to.
func ruleInWords(r model.Rule) string {
	parts := []string{string(r.Action)}
	if r.IPVersion != nil {
		parts = append(parts, fmt.Sprintf("IPv%d", *r.IPVersion))
	}
	if r.Protocol != nil {
		parts = append(parts, r.Protocol.String())
	}
	if r.NotProtocol != nil {
		parts = append(parts, "not "+r.NotProtocol.String())
	}
	if from := entityInWords(r.Source); from != "" {
		parts = append(parts, "from "+from)
	}
	if to := entityInWords(r.Destination); to != "" {
		parts = append(parts, "to "+to)
	}
	if len(parts) == 1 {
		parts = append(parts, "everything")
	}
	if r.Metadata != nil && r.Metadata.Annotations["name"] != "" {
		parts = append(parts, fmt.Sprintf("(rule %q)", r.Metadata.Annotations["name"]))
	}
	return strings.Join(parts, " ")
}

func entityInWords(e model.EntityRule) string {
	var parts []string
	add := func(format string, v any) { parts = append(parts, fmt.Sprintf(format, v)) }
	if e.Selector != "" {
		add("endpoints matching %s", e.Selector)
	}
	if e.NotSelector != "" {
		add("endpoints not matching %s", e.NotSelector)
	}
	if e.NamespaceSelector != "" {
		add("in namespaces matching %s", e.NamespaceSelector)
	}
	if len(e.Nets) > 0 {
		add("nets %s", strings.Join(e.Nets, ", "))
	}
	if len(e.NotNets) > 0 {
		add("not nets %s", strings.Join(e.NotNets, ", "))
	}
	if e.ServiceAccounts != nil {
		add("service accounts %s", serviceAccountWords(e.ServiceAccounts))
	}
	if e.Services != nil {
		add("the endpoints of service %s", strings.Trim(e.Services.Namespace+"/"+e.Services.Name, "/"))
	}
	if len(e.Ports) > 0 {
		add("ports %s", portWords(e.Ports))
	}
	if len(e.NotPorts) > 0 {
		add("not ports %s", portWords(e.NotPorts))
	}
	return strings.Join(parts, ", ")
}

func serviceAccountWords(m *model.ServiceAccountMatch) string {
	var s []string
	if len(m.Names) > 0 {
		s = append(s, strings.Join(m.Names, ", "))
	}
	if m.Selector != "" {
		s = append(s, "matching "+m.Selector)
	}
	return strings.Join(s, " ")
}

func portWords(ps []model.Port) string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return strings.Join(out, ", ")
}

// writeK8sPolicy says a Kubernetes NetworkPolicy in words.
func writeK8sPolicy(w io.Writer, np *networkingv1.NetworkPolicy) {
	fmt.Fprintf(w, "Tier:\tdefault (Kubernetes NetworkPolicy, order 1000, as Calico places it)\n")
	fmt.Fprintf(w, "Pod selector:\t%s\n", labelSelectorWords(&np.Spec.PodSelector, "all pods in the namespace"))
	var ts []string
	for _, t := range np.Spec.PolicyTypes {
		ts = append(ts, string(t))
	}
	fmt.Fprintf(w, "Types:\t%s\n", strings.Join(ts, ", "))
	fmt.Fprintln(w, "Ingress rules:")
	if len(np.Spec.Ingress) == 0 {
		fmt.Fprintln(w, "  none: ingress to the selected pods is denied unless another policy allows it")
	}
	for i, r := range np.Spec.Ingress {
		fmt.Fprintf(w, "  %d. Allow %sfrom %s\n", i+1, k8sPortWords(r.Ports), k8sPeerWords(r.From))
	}
	fmt.Fprintln(w, "Egress rules:")
	if len(np.Spec.Egress) == 0 {
		fmt.Fprintln(w, "  none: egress from the selected pods is denied unless another policy allows it (if Egress is a type)")
	}
	for i, r := range np.Spec.Egress {
		fmt.Fprintf(w, "  %d. Allow %sto %s\n", i+1, k8sPortWords(r.Ports), k8sPeerWords(r.To))
	}
}

func labelSelectorWords(s *metav1.LabelSelector, empty string) string {
	if s == nil {
		return empty
	}
	str := metav1.FormatLabelSelector(s)
	if str == "" || str == "<none>" {
		return empty
	}
	return str
}

func k8sPeerWords(peers []networkingv1.NetworkPolicyPeer) string {
	if len(peers) == 0 {
		return "anywhere"
	}
	var out []string
	for _, p := range peers {
		switch {
		case p.IPBlock != nil:
			s := "ipBlock " + p.IPBlock.CIDR
			if len(p.IPBlock.Except) > 0 {
				s += " except " + strings.Join(p.IPBlock.Except, ", ")
			}
			out = append(out, s)
		case p.NamespaceSelector != nil && p.PodSelector != nil:
			out = append(out, "pods matching "+labelSelectorWords(p.PodSelector, "anything")+" in namespaces matching "+labelSelectorWords(p.NamespaceSelector, "any"))
		case p.NamespaceSelector != nil:
			out = append(out, "all pods in namespaces matching "+labelSelectorWords(p.NamespaceSelector, "any"))
		case p.PodSelector != nil:
			out = append(out, "pods of this namespace matching "+labelSelectorWords(p.PodSelector, "anything"))
		}
	}
	return strings.Join(out, "; or ")
}

func k8sPortWords(ports []networkingv1.NetworkPolicyPort) string {
	if len(ports) == 0 {
		return ""
	}
	var out []string
	for _, p := range ports {
		proto := "TCP"
		if p.Protocol != nil {
			proto = string(*p.Protocol)
		}
		s := proto
		if p.Port != nil {
			s += "/" + p.Port.String()
			if p.EndPort != nil {
				s += fmt.Sprintf("-%d", *p.EndPort)
			}
		}
		out = append(out, s)
	}
	return strings.Join(out, ", ") + " "
}
