package ctl

import (
	corev1 "k8s.io/api/core/v1"

	"github.com/trellisnet/trellis/internal/model"
)

// keepServerFields copies into obj, about to overwrite cur, what the cluster set on cur and
// the manifest leaves unset, as `kubectl apply` leaves fields it does not manage alone: a
// Service's allocated cluster IPs, node ports and health-check node port and its status; a
// Pod's node and status. Without this, re-applying an unchanged manifest would take a
// Service's address away until the allocator gave it one again.
func keepServerFields(cur, obj model.Object) {
	switch o := obj.(type) {
	case *corev1.Service:
		if c, ok := cur.(*corev1.Service); ok {
			keepService(c, o)
		}
	case *corev1.Pod:
		if c, ok := cur.(*corev1.Pod); ok {
			if o.Spec.NodeName == "" {
				o.Spec.NodeName = c.Spec.NodeName
			}
			if isZeroPodStatus(o.Status) {
				o.Status = *c.Status.DeepCopy()
			}
		}
	}
}

// hasServerFields reports whether obj is of a kind keepServerFields fills in.
func hasServerFields(obj model.Object) bool {
	switch obj.(type) {
	case *corev1.Service, *corev1.Pod:
		return true
	}
	return false
}

func keepService(cur, obj *corev1.Service) {
	if obj.Spec.ClusterIP == "" && len(obj.Spec.ClusterIPs) == 0 {
		obj.Spec.ClusterIP = cur.Spec.ClusterIP
		obj.Spec.ClusterIPs = append([]string(nil), cur.Spec.ClusterIPs...)
		if len(obj.Spec.IPFamilies) == 0 {
			obj.Spec.IPFamilies = append([]corev1.IPFamily(nil), cur.Spec.IPFamilies...)
		}
		if obj.Spec.IPFamilyPolicy == nil && cur.Spec.IPFamilyPolicy != nil {
			p := *cur.Spec.IPFamilyPolicy
			obj.Spec.IPFamilyPolicy = &p
		}
	}
	if obj.Spec.Type == cur.Spec.Type {
		for i := range obj.Spec.Ports {
			p := &obj.Spec.Ports[i]
			if p.NodePort != 0 {
				continue
			}
			for _, cp := range cur.Spec.Ports {
				if cp.Port == p.Port && cp.Protocol == p.Protocol {
					p.NodePort = cp.NodePort
				}
			}
		}
		if obj.Spec.HealthCheckNodePort == 0 && obj.Spec.ExternalTrafficPolicy == cur.Spec.ExternalTrafficPolicy {
			obj.Spec.HealthCheckNodePort = cur.Spec.HealthCheckNodePort
		}
	}
	if len(obj.Status.LoadBalancer.Ingress) == 0 && len(obj.Status.Conditions) == 0 {
		obj.Status = *cur.Status.DeepCopy()
	}
}

func isZeroPodStatus(s corev1.PodStatus) bool {
	return s.Phase == "" && len(s.Conditions) == 0 && s.PodIP == "" && len(s.PodIPs) == 0 &&
		len(s.ContainerStatuses) == 0 && s.HostIP == "" && s.StartTime == nil
}
