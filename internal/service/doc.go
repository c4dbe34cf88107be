// Package service computes a node's desired service proxy state from Kubernetes
// Services and EndpointSlices, with the semantics of kube-proxy.
//
// Compute is a pure, deterministic function: Input (the node's name, Services,
// EndpointSlices) -> State, a sorted list of service ports, one per Service, port and IP
// family, each with its virtual addresses (ClusterIP, NodePort, externalIPs,
// LoadBalancer ingress IPs), traffic policies, session affinity and the endpoints traffic
// may be sent to, and the health-check node ports of externalTrafficPolicy Local
// services. State.String is the canonical text form used by goldens and logs.
// ComputeService and Assemble split Compute per Service, so that a caller (the node
// agent) recomputes only the Services whose inputs changed.
//
// Semantics (kube-proxy's):
//   - EndpointSlices belong to the Service named by their label kubernetes.io/service-name
//     in the same namespace; a slice's addressType selects the IP family it serves;
//     endpoint ports are matched to service ports by name and protocol;
//   - endpoints used are the ready ones (ready unset counts as ready); when none is ready,
//     the serving and terminating ones (fallback), separately for the cluster-wide and the
//     node-local sets;
//   - internal traffic (to the ClusterIP) uses the cluster-wide endpoints, or only this
//     node's with internalTrafficPolicy Local; external traffic (NodePort, externalIPs,
//     LoadBalancer ingress IPs) uses the cluster-wide endpoints with
//     externalTrafficPolicy Cluster (masqueraded when sent to another node) or only this
//     node's with Local (client address preserved);
//   - a port without any usable endpoint rejects; a port whose endpoints exist but none
//     for the traffic policy in force drops;
//   - headless Services (clusterIP None) get no ClusterIP; ExternalName Services are
//     ignored, and so are Services labelled service.kubernetes.io/service-proxy-name
//     (another proxy's) or service.kubernetes.io/headless, as kube-proxy ignores them, and
//     EndpointSlices with either label.
//
// The package must never touch the kernel, the network, the clock or the disk, start
// goroutines or log: it returns data.
package service
