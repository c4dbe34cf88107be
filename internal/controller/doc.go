// Package controller holds the cluster-level controllers that Kubernetes' API server,
// kube-controller-manager and Calico's kube-controllers would run, working on the
// datastore alone (no kernel, no lab):
//
//   - the Service allocator: spec.clusterIP(s) and ipFamilies from the service CIDRs,
//     nodePorts and healthCheckNodePort from the node-port range;
//   - LoadBalancer IPAM (Calico's): status.loadBalancer.ingress from IPPools whose
//     allowedUses include LoadBalancer, honouring spec.loadBalancerIP and the
//     projectcalico.org/loadBalancerIPs annotation;
//   - the EndpointSlice controller: one set of slices per selector Service and address
//     family, from the Pods it selects, their addresses, readiness and named ports;
//   - the endpoint label controller: a Kubernetes pod's WorkloadEndpoint labels follow
//     the labels of the pod, its namespace (pcns.) and its service account (pcsa.), as
//     Calico's kube-controllers keep them in etcd mode (the CNI plugin sets them on ADD).
//
// Invariants: what each controller writes is a deterministic function of the stored
// objects (Plan* functions are pure: no clock, no I/O); allocation state is derived from
// the stored Services themselves, so there is no second source of truth to drift; every
// write is a compare-and-swap on the object's resourceVersion, and a conflict only means
// "read again". When two Services claim the same address or port (user-chosen, or two
// allocators raced) the older one (creationTimestamp, then namespace/name) keeps it and
// the other is given a new one. An unreachable datastore is logged (store/reach, naming
// Config.DatastoreEndpoint); when it answers again every loop re-opens its watches and
// reconciles from a fresh list.
//
// It must never: touch the kernel or the network, write EndpointSlices it does not manage
// (label endpointslice.kubernetes.io/managed-by), change the slices of a Service without
// a selector, or change a LoadBalancer service whose loadBalancerClass is not Calico's.
package controller
