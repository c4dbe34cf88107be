package manifests

import (
	"net"
	"net/netip"

	corev1 "k8s.io/api/core/v1"

	"github.com/trellisnet/trellis/internal/model"
)

// calicoDocs are the default IPPool and BGPConfiguration (Calico's names and defaults).
func calicoDocs(o Options) []doc {
	pool := &model.IPPool{TypeMeta: typeMeta(model.APIVersionCalico, "IPPool"), ObjectMeta: meta("default-ipv4-ippool", "")}
	pool.Spec = model.IPPoolSpec{CIDR: o.PodCIDR.String(), BlockSize: 26, NATOutgoing: true,
		IPIPMode: model.EncapNever, VXLANMode: model.EncapNever, NodeSelector: "all()"}
	why := "The default pool, routed natively: nodes advertise their blocks over BGP."
	if o.Routing == RoutingVXLAN {
		pool.Spec.VXLANMode = model.EncapAlways
		why = "The default pool, encapsulated in VXLAN between nodes."
	}
	mesh := true
	as := model.ASNumber(64512)
	bgp := &model.BGPConfiguration{TypeMeta: typeMeta(model.APIVersionCalico, "BGPConfiguration"), ObjectMeta: meta("default", "")}
	bgp.Spec = model.BGPConfigurationSpec{NodeToNodeMeshEnabled: &mesh, ASNumber: &as}
	return []doc{
		{comment: why + "\nBefore the webhook configurations: while the controllers do not run yet, the API\nserver would refuse it.", obj: pool},
		{comment: "Calico's defaults, written out: a full node-to-node BGP mesh in private AS 64512.", obj: bgp},
	}
}

// apiEndpoints is the ConfigMap whose keys override the kubernetes Service's address in
// the pods that read it (envFrom comes after the kubelet's service variables).
func apiEndpoints(o Options) *corev1.ConfigMap {
	host, port, _ := net.SplitHostPort(o.APIServer)
	if a, err := netip.ParseAddr(host); err == nil {
		host = a.String()
	}
	return &corev1.ConfigMap{TypeMeta: typeMeta("v1", "ConfigMap"), ObjectMeta: meta(APIEndpointsConfig, Namespace),
		Data: map[string]string{"KUBERNETES_SERVICE_HOST": host, "KUBERNETES_SERVICE_PORT": port}}
}

// apiEndpointsEnv makes a container read apiEndpoints when it exists.
func apiEndpointsEnv() []corev1.EnvFromSource {
	optional := true
	return []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{
		LocalObjectReference: corev1.LocalObjectReference{Name: APIEndpointsConfig}, Optional: &optional}}}
}
