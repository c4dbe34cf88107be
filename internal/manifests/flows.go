package manifests

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Flow logs: every node agent logs the verdicts of new connections to NFLOG group
// flowLogGroup and pushes its flows every interval to the aggregator, a Deployment
// serving the cluster's flow API and web UI (`trellis ui`) behind a Service with a fixed
// cluster IP (the agents run in the host network, without cluster DNS).
const (
	FlowsName    = "trellis-flows"
	flowsPort    = 7070
	flowLogGroup = 20
)

// flowAgentEnv are the agent's flow-log settings.
func flowAgentEnv(o Options) []corev1.EnvVar {
	return []corev1.EnvVar{
		{Name: "TRELLIS_FLOW_LOG_GROUP", Value: fmt.Sprint(flowLogGroup)},
		{Name: "TRELLIS_FLOW_AGGREGATOR", Value: fmt.Sprintf("http://%s:%d", o.flowsIP(), flowsPort)},
	}
}

// flowsDocs are the aggregator's Deployment and Service.
func flowsDocs(o Options) []doc {
	labels := map[string]string{"app.kubernetes.io/name": FlowsName}
	c := corev1.Container{
		Name: "aggregator", Image: o.Image, ImagePullPolicy: o.PullPolicy,
		Command:         []string{binary},
		Args:            []string{"ui", "--datastore-type=kubernetes", fmt.Sprintf("--listen=:%d", flowsPort)},
		Ports:           []corev1.ContainerPort{{Name: "http", ContainerPort: flowsPort, Protocol: corev1.ProtocolTCP}},
		ReadinessProbe:  httpProbe("", "/healthz", flowsPort),
		SecurityContext: restricted(),
	}
	d := &appsv1.Deployment{TypeMeta: typeMeta("apps/v1", "Deployment"), ObjectMeta: meta(FlowsName, Namespace)}
	d.Spec = appsv1.DeploymentSpec{
		Replicas: ptr(int32(1)),
		Selector: selector(labels),
		Template: corev1.PodTemplateSpec{
			ObjectMeta: podMeta(labels),
			Spec: corev1.PodSpec{
				ServiceAccountName: FlowsName,
				NodeSelector:       map[string]string{"kubernetes.io/os": "linux"},
				Tolerations:        controlPlaneTolerations(false),
				Containers:         []corev1.Container{c},
			},
		},
	}
	svc := &corev1.Service{TypeMeta: typeMeta("v1", "Service"), ObjectMeta: meta(FlowsName, Namespace)}
	svc.Spec = corev1.ServiceSpec{Selector: labels, ClusterIP: o.flowsIP().String(), Ports: []corev1.ServicePort{{Name: "http",
		Port: flowsPort, TargetPort: intstr.FromString("http"), Protocol: corev1.ProtocolTCP}}}
	return []doc{
		{comment: "The flow aggregator: the node agents push their flows to it; it serves the cluster's flow API\n" +
			"(trellis flows --server) and the web UI, and traces any flow with the policy calculation.", obj: d},
		{comment: fmt.Sprintf("The aggregator's address for the node agents (%s, fixed: they run without cluster DNS).", o.flowsIP()), obj: svc},
	}
}
