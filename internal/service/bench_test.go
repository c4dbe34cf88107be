package service_test

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/trellisnet/trellis/internal/service"
)

// benchInput has n Services (TCP 80) with one slice of three endpoints each, on three
// nodes.
func benchInput(n int) service.Input {
	in := service.Input{Node: "node0"}
	port, proto := int32(8080), corev1.ProtocolTCP
	for i := range n {
		name := fmt.Sprintf("svc%05d", i)
		in.Services = append(in.Services, &corev1.Service{
			ObjectMeta: metav1ObjectMeta(name),
			Spec: corev1.ServiceSpec{ClusterIP: fmt.Sprintf("10.96.%d.%d", i/256, i%256),
				Ports: []corev1.ServicePort{{Port: 80, Protocol: corev1.ProtocolTCP}}},
		})
		sl := &discoveryv1.EndpointSlice{ObjectMeta: metav1ObjectMeta(name), AddressType: discoveryv1.AddressTypeIPv4,
			Ports: []discoveryv1.EndpointPort{{Port: &port, Protocol: &proto}}}
		sl.Labels = map[string]string{service.LabelServiceName: name}
		for j := range 3 {
			node := fmt.Sprintf("node%d", j)
			v := 3*i + j
			sl.Endpoints = append(sl.Endpoints, discoveryv1.Endpoint{Addresses: []string{fmt.Sprintf("10.70.%d.%d", v/256, v%256)}, NodeName: &node})
		}
		in.Slices = append(in.Slices, sl)
	}
	return in
}

func BenchmarkCompute(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		in := benchInput(n)
		b.Run(fmt.Sprintf("services=%d", n), func(b *testing.B) {
			for b.Loop() {
				service.Compute(in)
			}
		})
	}
}

func metav1ObjectMeta(name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: "bench"}
}
