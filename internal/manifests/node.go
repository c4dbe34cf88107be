package manifests

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Node-side paths: the host's, and where the containers see them.
const (
	hostCNIBin  = "/opt/cni/bin"
	hostCNIConf = "/etc/cni/net.d"
	hostRun     = "/run/trellis/node"
	binary      = "/usr/local/bin/trellis"
	healthPort  = 9099
	webhookPort = 9443
	// The /metrics ports Prometheus scrapes: the agent's --metrics-addr (Calico's Felix
	// port), the controllers' and DNS's --health-addr (also their probes'; DNS on
	// CoreDNS's metrics port).
	agentMetricsPort      = 9091
	controllersHealthPort = 9094
	dnsHealthPort         = 9153
	cniNetwork            = "k8s-pod-network"
	cniConfFile           = "10-trellis.conflist"
	cniKubeconfg          = "trellis-kubeconfig"
)

// nodeDocs are the node agent's DaemonSet.
func nodeDocs(o Options) []doc {
	privileged := true
	dirOrCreate := corev1.HostPathDirectoryOrCreate
	hostPath := func(name, path string) corev1.Volume {
		return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: path, Type: &dirOrCreate}}}
	}
	nodeEnv := corev1.EnvVar{Name: "NODENAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"}}}
	install := corev1.Container{
		Name: "install-cni", Image: o.Image, ImagePullPolicy: o.PullPolicy,
		Command: []string{binary},
		Args: []string{"cni", "install", "--cni-bin-dir=/host" + hostCNIBin, "--cni-conf-dir=/host" + hostCNIConf,
			"--node-name=$(NODENAME)", "--token-for=" + CNIName},
		Env:     []corev1.EnvVar{nodeEnv},
		EnvFrom: apiEndpointsEnv(),
		VolumeMounts: []corev1.VolumeMount{
			{Name: "cni-bin-dir", MountPath: "/host" + hostCNIBin},
			{Name: "cni-net-dir", MountPath: "/host" + hostCNIConf},
		},
		SecurityContext: &corev1.SecurityContext{Privileged: &privileged},
	}
	probe := func(path string, period int32) *corev1.Probe {
		return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
			Host: "127.0.0.1", Path: path, Port: intstr.FromInt32(healthPort)}},
			PeriodSeconds: period, TimeoutSeconds: 5, FailureThreshold: 6}
	}
	agent := corev1.Container{
		Name: "agent", Image: o.Image, ImagePullPolicy: o.PullPolicy,
		Command: []string{binary},
		Args: []string{"node", "run", "--datastore-type=kubernetes", "--node-name=$(NODENAME)",
			"--health-addr=127.0.0.1:9099", fmt.Sprintf("--metrics-addr=:%d", agentMetricsPort)},
		Env: append([]corev1.EnvVar{nodeEnv,
			// The address the node's BGP speaker and VXLAN tunnel use (Calico's IP variable).
			{Name: "IP", Value: "autodetect"}}, flowAgentEnv(o)...),
		EnvFrom: apiEndpointsEnv(),
		VolumeMounts: []corev1.VolumeMount{
			{Name: "run-trellis-node", MountPath: hostRun},
		},
		SecurityContext: &corev1.SecurityContext{Privileged: &privileged},
		ReadinessProbe:  probe("/readyz", 10),
		LivenessProbe:   probe("/healthz", 10),
		Ports: []corev1.ContainerPort{
			{Name: "bgp", ContainerPort: 179, Protocol: corev1.ProtocolTCP},
			{Name: "metrics", ContainerPort: agentMetricsPort, Protocol: corev1.ProtocolTCP},
		},
	}
	agent.LivenessProbe.InitialDelaySeconds = 10
	maxUnavailable := intstr.FromInt32(1)
	ds := &appsv1.DaemonSet{TypeMeta: typeMeta("apps/v1", "DaemonSet"), ObjectMeta: meta(NodeName, Namespace)}
	labels := map[string]string{"app.kubernetes.io/name": NodeName}
	ds.Spec = appsv1.DaemonSetSpec{
		Selector: selector(labels),
		UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType,
			RollingUpdate: &appsv1.RollingUpdateDaemonSet{MaxUnavailable: &maxUnavailable}},
		Template: corev1.PodTemplateSpec{
			ObjectMeta: scraped(podMeta(labels), agentMetricsPort),
			Spec: corev1.PodSpec{
				ServiceAccountName: NodeName,
				HostNetwork:        true,
				PriorityClassName:  "system-node-critical",
				NodeSelector:       map[string]string{"kubernetes.io/os": "linux"},
				// Every node needs its agent, whatever its taints.
				Tolerations:                   []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
				TerminationGracePeriodSeconds: ptr(int64(30)),
				InitContainers:                []corev1.Container{install},
				Containers:                    []corev1.Container{agent},
				Volumes: []corev1.Volume{
					hostPath("cni-bin-dir", hostCNIBin),
					hostPath("cni-net-dir", hostCNIConf),
					hostPath("run-trellis-node", hostRun),
				},
			},
		},
	}
	return []doc{{comment: "The node agent on every node: policy (nftables table inet trellis), Services (no kube-proxy),\n" +
		"pod routes, BGP and VXLAN. The init container installs the CNI plugin and its configuration.\n" +
		"Host network and privileged: it programs the host's nftables, routes and links.", obj: ds}}
}

func ptr[T any](v T) *T { return &v }
