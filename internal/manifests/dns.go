package manifests

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// dnsDocs are the cluster DNS: a Deployment and the Service kube-system/kube-dns.
func dnsDocs(o Options) []doc {
	labels := map[string]string{"k8s-app": "kube-dns", "app.kubernetes.io/name": DNSName}
	c := corev1.Container{
		Name: "dns", Image: o.Image, ImagePullPolicy: o.PullPolicy,
		Command: []string{binary},
		Args: []string{"dns", "serve", "--datastore-type=kubernetes", "--listen=:53", "--zone=cluster.local",
			fmt.Sprintf("--health-addr=:%d", dnsHealthPort)},
		Ports: []corev1.ContainerPort{
			{Name: "dns", ContainerPort: 53, Protocol: corev1.ProtocolUDP},
			{Name: "dns-tcp", ContainerPort: 53, Protocol: corev1.ProtocolTCP},
			{Name: "metrics", ContainerPort: dnsHealthPort, Protocol: corev1.ProtocolTCP},
		},
		// Ready once Services and EndpointSlices are listed (before, queries get SERVFAIL).
		ReadinessProbe:  httpProbe("", "/readyz", dnsHealthPort),
		LivenessProbe:   httpProbe("", "/healthz", dnsHealthPort),
		SecurityContext: restricted(),
	}
	d := &appsv1.Deployment{TypeMeta: typeMeta("apps/v1", "Deployment"), ObjectMeta: meta(DNSName, DNSNamespace)}
	d.Spec = appsv1.DeploymentSpec{
		Replicas: ptr(int32(2)),
		Selector: selector(labels),
		Template: corev1.PodTemplateSpec{
			ObjectMeta: scraped(podMeta(labels), dnsHealthPort),
			Spec: corev1.PodSpec{
				ServiceAccountName: DNSName,
				PriorityClassName:  "system-cluster-critical",
				// Its own upstream is the node's resolver, never itself.
				DNSPolicy:    corev1.DNSDefault,
				NodeSelector: map[string]string{"kubernetes.io/os": "linux"},
				Tolerations:  controlPlaneTolerations(false),
				// Port 53 without root or capabilities: a namespaced, safe sysctl.
				SecurityContext: &corev1.PodSecurityContext{Sysctls: []corev1.Sysctl{{Name: "net.ipv4.ip_unprivileged_port_start", Value: "53"}}},
				Containers:      []corev1.Container{c},
			},
		},
	}
	svc := &corev1.Service{TypeMeta: typeMeta("v1", "Service"), ObjectMeta: meta("kube-dns", DNSNamespace)}
	svc.Labels["k8s-app"] = "kube-dns"
	svc.Spec = corev1.ServiceSpec{Selector: map[string]string{"k8s-app": "kube-dns"}, ClusterIP: o.DNSIP.String(),
		Ports: []corev1.ServicePort{
			{Name: "dns", Port: 53, TargetPort: intstr.FromString("dns"), Protocol: corev1.ProtocolUDP},
			{Name: "dns-tcp", Port: 53, TargetPort: intstr.FromString("dns-tcp"), Protocol: corev1.ProtocolTCP},
		}}
	return []doc{
		{comment: "The cluster DNS: answers cluster.local from Services and EndpointSlices, forwards nothing.", obj: d},
		{comment: "The kubelet's clusterDNS address (" + o.DNSIP.String() + "), named as Kubernetes expects.", obj: svc},
	}
}
