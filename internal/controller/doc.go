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
//     Calico's kube-controllers keep them in etcd mode (the CNI plugin sets them on ADD);
//   - the namespace controller: a deleted Namespace's contents (every namespaced kind of
//     the registry) are deleted, as Kubernetes' namespace controller does, and whatever is
//     written into it later is deleted on the next Namespace event or resync, until the
//     namespace is created again.
//
// Over a store that keeps Calico's Kubernetes data model (store.DerivedEndpoints: a real
// Kubernetes control plane) LoadBalancer IPAM runs (PlanLoadBalancers: status only): the
// API server allocates cluster IPs and node ports, kube-controller-manager keeps
// EndpointSlices and deletes namespaces, and derived endpoints carry their pod's labels.
// With it run, there only, what Calico's kube-controllers do for IPAM:
//
//   - nodes: a node IPAM names (an affinity, a block's affinity, an allocation's node
//     attribute) that is no Kubernetes Node, on its deletion or at start, has its IPAM
//     released (PlanNodeRelease): once no pod still bound to it holds one of its
//     addresses, those no pod holds, then its VXLAN tunnel address and its affinities as
//     DecommissionNode does (an emptied block deleted, one holding addresses other nodes
//     borrowed kept without affinity; those addresses are never touched);
//   - ipamgc: ipamstore's leak collector over the pod views: an address whose pod no
//     longer holds it (gone, finished, another address or sandbox) is released once it has
//     been leaked for Config.IPAMGCGrace.
//
// The start log names the loops that run.
//
// The EndpointSlice and endpoint label controllers are informers: each lists its kinds
// once into a cache and then applies watch events to it (a watch that ends lists that kind
// again), with indexes (pods by namespace and label, selector Services by namespace and
// one selector label, slices by owning Service; endpoints by pod and by namespace), so one
// event plans only what it touches: a pod change the Services that select the pod before
// or after it, a namespace or service account change that namespace's endpoints. A run
// on start, on resync and after a re-list plans everything. Writes go through to the cache.
//
// Invariants: planning from the caches after any series of events plans what planning
// everything from scratch would (tested with random churn); what each controller writes
// is a deterministic function of the stored objects (Plan* functions are pure: no clock, no I/O); allocation state is derived from
// the stored Services themselves, so there is no second source of truth to drift; every
// write is a compare-and-swap on the object's resourceVersion, and a conflict only means
// "read again". When two Services claim the same address or port (user-chosen, or two
// allocators raced) the older one (creationTimestamp, then namespace/name) keeps it and
// the other is given a new one. An unreachable datastore is logged (store/reach, naming
// Config.DatastoreEndpoint); when it answers again every loop re-opens its watches and
// reconciles from a fresh list.
//
// Metrics (Gatherer): every loop's runs, errors and durations through the runner's
// observer (runnermetrics, labelled by loop), IPAM utilisation per IPPool read from the
// store at scrape time (ipam.Usage), datastore reachability; Ready is the loops started
// and the datastore answering.
//
// A namespace is gone only when this process saw it and then saw it deleted (an event, or
// absent from a re-list): namespaces that never had a Namespace object (Calico's etcd
// mode) are never emptied, and a namespace deleted while no controller ran is not noticed
// by the next one. Deletes are guarded by the object's UID.
//
// It must never: touch the kernel or the network, release an address a workload's
// endpoint still shows, write EndpointSlices it does not manage
// (label endpointslice.kubernetes.io/managed-by), change the slices of a Service without
// a selector, delete anything in a namespace that exists, or change a LoadBalancer
// service whose loadBalancerClass is not Calico's.
package controller
