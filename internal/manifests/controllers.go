package manifests

import (
	"fmt"
	"strings"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/trellisnet/trellis/internal/controller"
)

// WebhookDNSName is the name the webhook's serving certificate is for.
const WebhookDNSName = WebhookService + "." + Namespace + ".svc"

// controllerDocs are the controllers' Deployment and the webhook's Service.
func controllerDocs(o Options) []doc {
	labels := map[string]string{"app.kubernetes.io/name": ControllersName}
	c := corev1.Container{
		Name: "controllers", Image: o.Image, ImagePullPolicy: o.PullPolicy,
		Command: []string{binary},
		Args: []string{"controller", "run", "--datastore-type=kubernetes",
			"--service-cidr=" + o.ServiceCIDR.String(), "--reserved=" + o.DNSIP.String(),
			"--controllers=" + strings.Join([]string{controller.LoopServices, controller.LoopNodes, controller.LoopIPAMGC}, ","),
			"--webhook-listen=:9443",
			"--webhook-self-signed-secret=" + Namespace + "/" + WebhookSecret,
			"--webhook-dns-name=" + WebhookDNSName,
			"--webhook-configurations=" + WebhookConfigName,
			fmt.Sprintf("--health-addr=:%d", controllersHealthPort)},
		EnvFrom: apiEndpointsEnv(),
		Ports: []corev1.ContainerPort{{Name: "webhook", ContainerPort: webhookPort, Protocol: corev1.ProtocolTCP},
			{Name: "metrics", ContainerPort: controllersHealthPort, Protocol: corev1.ProtocolTCP}},
		// Ready: loops started, datastore reachable, webhook serving.
		ReadinessProbe:  httpProbe("127.0.0.1", "/readyz", controllersHealthPort),
		LivenessProbe:   httpProbe("127.0.0.1", "/healthz", controllersHealthPort),
		SecurityContext: restricted(),
	}
	d := &appsv1.Deployment{TypeMeta: typeMeta("apps/v1", "Deployment"), ObjectMeta: meta(ControllersName, Namespace)}
	d.Spec = appsv1.DeploymentSpec{
		Replicas: ptr(int32(1)),
		Selector: selector(labels),
		// Host network: a second pod on the same node could not bind the webhook port.
		Strategy: appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType},
		Template: corev1.PodTemplateSpec{
			ObjectMeta: scraped(podMeta(labels), controllersHealthPort),
			Spec: corev1.PodSpec{
				ServiceAccountName: ControllersName,
				// The webhook must answer before pod networking exists (docs/install.md).
				HostNetwork:       true,
				PriorityClassName: "system-cluster-critical",
				NodeSelector:      map[string]string{"kubernetes.io/os": "linux"},
				Tolerations:       controlPlaneTolerations(true),
				Containers:        []corev1.Container{c},
			},
		},
	}
	svc := &corev1.Service{TypeMeta: typeMeta("v1", "Service"), ObjectMeta: meta(WebhookService, Namespace)}
	svc.Spec = corev1.ServiceSpec{Selector: labels, Ports: []corev1.ServicePort{{Name: "webhook", Port: 443,
		TargetPort: intstr.FromString("webhook"), Protocol: corev1.ProtocolTCP}}}
	return []doc{
		{comment: "The cluster controllers (LoadBalancer IPs; IPAM of deleted nodes, addresses of pods deleted without a CNI DEL)\nand the admission webhook.\n" +
			"One replica; in the host network, so the API server reaches the webhook before any pod network.", obj: d},
		{comment: "The webhook's address for the API server (" + WebhookDNSName + ", the name in its certificate).", obj: svc},
	}
}

// webhookResources are the projectcalico.org resources the webhook reviews: every kind a
// user writes. Nodes and WorkloadEndpoints are left out: Trellis's own components write
// them (the CNI plugin on every pod start), and a webhook that is down must not stop pods.
func webhookResources() []string {
	return []string{"bgpconfigurations", "bgpfilters", "bgppeers", "clusterinformations", "felixconfigurations",
		"globalnetworkpolicies", "globalnetworksets", "hostendpoints", "ipamconfigurations", "ippools",
		"ipreservations", "kubecontrollersconfigurations", "networkpolicies", "networksets", "profiles",
		"stagedglobalnetworkpolicies", "stagedkubernetesnetworkpolicies", "stagednetworkpolicies", "tiers"}
}

// webhookDocs are the two webhook configurations; the controllers fill in caBundle.
func webhookDocs() []doc {
	fail := admissionv1.Fail
	none := admissionv1.SideEffectClassNone
	hook := func(path string, ops ...admissionv1.OperationType) (string, admissionv1.WebhookClientConfig, []admissionv1.RuleWithOperations) {
		return strings.TrimPrefix(path, "/") + ".trellis.dev",
			admissionv1.WebhookClientConfig{Service: &admissionv1.ServiceReference{Namespace: Namespace, Name: WebhookService, Path: &path, Port: ptr(int32(443))}},
			[]admissionv1.RuleWithOperations{{Operations: ops, Rule: admissionv1.Rule{
				APIGroups: []string{groupCalico}, APIVersions: []string{"v3"}, Resources: webhookResources(), Scope: ptr(admissionv1.ClusterScope)}}}
	}
	vName, vClient, vRules := hook("/validate", admissionv1.Create, admissionv1.Update, admissionv1.Delete)
	mName, mClient, mRules := hook("/mutate", admissionv1.Create, admissionv1.Update)
	validating := &admissionv1.ValidatingWebhookConfiguration{TypeMeta: typeMeta("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration"),
		ObjectMeta: meta(WebhookConfigName, ""),
		Webhooks: []admissionv1.ValidatingWebhook{{Name: vName, ClientConfig: vClient, Rules: vRules,
			FailurePolicy: &fail, SideEffects: &none, AdmissionReviewVersions: []string{"v1"}, TimeoutSeconds: ptr(int32(10)),
			MatchPolicy: ptr(admissionv1.Equivalent)}}}
	mutating := &admissionv1.MutatingWebhookConfiguration{TypeMeta: typeMeta("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration"),
		ObjectMeta: meta(WebhookConfigName, ""),
		Webhooks: []admissionv1.MutatingWebhook{{Name: mName, ClientConfig: mClient, Rules: mRules,
			FailurePolicy: &fail, SideEffects: &none, AdmissionReviewVersions: []string{"v1"}, TimeoutSeconds: ptr(int32(10)),
			MatchPolicy: ptr(admissionv1.Equivalent), ReinvocationPolicy: ptr(admissionv1.NeverReinvocationPolicy)}}}
	return []doc{
		{comment: "Calico's defaults applied to what users write (the same code as `trellis apply`).\n" +
			"caBundle is written by the controllers, which mint the webhook's CA on first start.", obj: mutating},
		{comment: "What the CRD schemas cannot check (selectors, references, overlapping pools), refused with its\n" +
			"field path. failurePolicy Fail: nothing unchecked is stored while the webhook is down.", obj: validating},
	}
}

// controlPlaneTolerations let a cluster-wide component run on control-plane nodes and,
// for host-network pods (notReady), before any node has pod networking.
func controlPlaneTolerations(notReady bool) []corev1.Toleration {
	t := []corev1.Toleration{
		{Key: "CriticalAddonsOnly", Operator: corev1.TolerationOpExists},
		{Key: "node-role.kubernetes.io/control-plane", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
	}
	if notReady {
		t = append(t, corev1.Toleration{Key: "node.kubernetes.io/not-ready", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule})
	}
	return t
}

func selector(labels map[string]string) *metav1.LabelSelector {
	return &metav1.LabelSelector{MatchLabels: labels}
}

// scraped marks a pod for Prometheus's conventional pod discovery: scrape /metrics on port.
func scraped(m metav1.ObjectMeta, port int32) metav1.ObjectMeta {
	m.Annotations = map[string]string{"prometheus.io/scrape": "true", "prometheus.io/port": fmt.Sprint(port),
		"prometheus.io/path": "/metrics"}
	return m
}

// httpProbe GETs path on host:port (host empty: the pod's address); 503 fails it.
// restricted is the security context of the components that need no privilege: nobody,
// no escalation, a read-only root filesystem, no capabilities.
func restricted() *corev1.SecurityContext {
	no, yes := false, true
	return &corev1.SecurityContext{RunAsNonRoot: &yes, RunAsUser: ptr(int64(65534)),
		AllowPrivilegeEscalation: &no, ReadOnlyRootFilesystem: &yes,
		Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}}
}

func httpProbe(host, path string, port int32) *corev1.Probe {
	return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
		Host: host, Path: path, Port: intstr.FromInt32(port)}}, PeriodSeconds: 10, TimeoutSeconds: 5}
}

func podMeta(labels map[string]string) metav1.ObjectMeta {
	m := map[string]string{"app.kubernetes.io/part-of": "trellis"}
	for k, v := range labels {
		m[k] = v
	}
	return metav1.ObjectMeta{Labels: m}
}
