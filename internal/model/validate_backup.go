package model

import (
	"regexp"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Validation of the kinds a calicoctl backup holds besides the ones Trellis uses:
// StagedKubernetesNetworkPolicy, KubeControllersConfiguration and ClusterInformation.

// kubeControllersLogSeverities are the log levels kube-controllers accepts.
var kubeControllersLogSeverities = []string{"None", "Debug", "Info", "Warning", "Error", "Fatal", "Panic"}

// validateStagedK8sPolicy: a staged delete has nothing but stagedAction; anything else is
// checked as the Kubernetes NetworkPolicy it stands for.
func validateStagedK8sPolicy(o *StagedKubernetesNetworkPolicy, p *field.Path) field.ErrorList {
	s := &o.Spec
	errs := notSupported(p.Child("stagedAction"), s.StagedAction, StagedActionSet, StagedActionDelete, StagedActionLearn, StagedActionIgnore)
	if s.StagedAction == StagedActionDelete {
		empty := len(s.PodSelector.MatchLabels) == 0 && len(s.PodSelector.MatchExpressions) == 0
		if !empty || len(s.Ingress) > 0 || len(s.Egress) > 0 || len(s.PolicyTypes) > 0 {
			errs = append(errs, field.Forbidden(p, "with stagedAction Delete every spec field except stagedAction must be empty"))
		}
		return errs
	}
	return append(errs, validateK8sNetworkPolicy(o.KubernetesPolicy(), p)...)
}

func validateKubeControllers(s *KubeControllersConfigurationSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if s.LogSeverityScreen != "" {
		errs = append(errs, notSupported(p.Child("logSeverityScreen"), s.LogSeverityScreen, kubeControllersLogSeverities...)...)
	}
	errs = append(errs, enabledOrDisabled(s.HealthChecks, p.Child("healthChecks"))...)
	errs = append(errs, nonNegative(s.EtcdV3CompactionPeriod, p.Child("etcdV3CompactionPeriod"))...)
	if s.PrometheusMetricsPort != nil && (*s.PrometheusMetricsPort < 0 || *s.PrometheusMetricsPort > 65535) {
		errs = append(errs, field.Invalid(p.Child("prometheusMetricsPort"), *s.PrometheusMetricsPort, "must be between 0 (disabled) and 65535, inclusive"))
	}
	if s.DebugProfilePort != nil && (*s.DebugProfilePort < 0 || *s.DebugProfilePort > 65535) {
		errs = append(errs, field.Invalid(p.Child("debugProfilePort"), *s.DebugProfilePort, "must be between 0 and 65535, inclusive"))
	}
	return append(errs, validateControllers(&s.Controllers, p.Child("controllers"))...)
}

func validateControllers(c *ControllersConfig, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if n := c.Node; n != nil {
		np := p.Child("node")
		errs = append(errs, nonNegative(n.ReconcilerPeriod, np.Child("reconcilerPeriod"))...)
		errs = append(errs, nonNegative(n.LeakGracePeriod, np.Child("leakGracePeriod"))...)
		errs = append(errs, enabledOrDisabled(n.SyncLabels, np.Child("syncLabels"))...)
		if h := n.HostEndpoint; h != nil {
			hp := np.Child("hostEndpoint")
			errs = append(errs, enabledOrDisabled(h.AutoCreate, hp.Child("autoCreate"))...)
			errs = append(errs, enabledOrDisabled(h.CreateDefaultHostEndpoint, hp.Child("createDefaultHostEndpoint"))...)
			for i := range h.Templates {
				errs = append(errs, validateHostEndpointTemplate(&h.Templates[i], hp.Child("templates").Index(i))...)
			}
		}
	}
	for _, r := range []struct {
		name string
		c    *ReconcilerConfig
	}{{"policy", c.Policy}, {"workloadEndpoint", c.WorkloadEndpoint}, {"serviceAccount", c.ServiceAccount}, {"namespace", c.Namespace}} {
		if r.c != nil {
			errs = append(errs, nonNegative(r.c.ReconcilerPeriod, p.Child(r.name).Child("reconcilerPeriod"))...)
		}
	}
	if lb := c.LoadBalancer; lb != nil && lb.AssignIPs != "" {
		errs = append(errs, notSupported(p.Child("loadBalancer", "assignIPs"), lb.AssignIPs, AssignIPsAllServices, AssignIPsRequestedOnly)...)
	}
	if m := c.Migration; m != nil {
		errs = append(errs, enabledOrDisabled(m.PolicyNameMigrator, p.Child("policyMigration", "enabled"))...)
	}
	return errs
}

func validateHostEndpointTemplate(t *AutoHostEndpointTemplate, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if t.GenerateName != "" {
		for _, msg := range subdomainName(t.GenerateName, false) {
			errs = append(errs, field.Invalid(p.Child("generateName"), t.GenerateName, msg))
		}
	}
	for i, c := range t.InterfaceCIDRs {
		errs = append(errs, validateCIDR(c, 0, false, p.Child("interfaceCIDRs").Index(i))...)
	}
	if t.InterfacePattern != "" {
		if _, err := regexp.Compile(t.InterfacePattern); err != nil {
			errs = append(errs, field.Invalid(p.Child("interfacePattern"), t.InterfacePattern, "must be a valid regular expression"))
		}
	}
	if len(t.InterfaceCIDRs) == 0 && t.InterfacePattern == "" {
		errs = append(errs, field.Required(p.Child("interfaceCIDRs"), "at least one of interfaceCIDRs and interfacePattern must be given"))
	}
	errs = append(errs, labelErrs(t.Labels, p.Child("labels"))...)
	return append(errs, validateSelector(t.NodeSelector, p.Child("nodeSelector"))...)
}

func validateClusterInformation(s *ClusterInformationSpec, p *field.Path) field.ErrorList {
	if s.Variant != "" {
		return notSupported(p.Child("variant"), s.Variant, "Calico", "TigeraSecureEnterprise")
	}
	return nil
}

func enabledOrDisabled(v string, p *field.Path) field.ErrorList {
	if v == "" {
		return nil
	}
	return notSupported(p, v, Enabled, Disabled)
}

func nonNegative(d *metav1.Duration, p *field.Path) field.ErrorList {
	if d != nil && d.Duration < 0 {
		return field.ErrorList{field.Invalid(p, d.String(), "must not be negative")}
	}
	return nil
}
