// Package kube is the store.Store backend over a Kubernetes API server (client-go's dynamic
// client, JSON bodies): Kubernetes kinds (Pod, Namespace, ServiceAccount, Node, Service,
// EndpointSlice, NetworkPolicy) live in their built-in resources, Calico and Trellis kinds
// in the CustomResourceDefinitions of deploy/crds, which must be installed. Open it with
// kube.New(store.Config{Kubeconfig: path}) (an empty path means the in-cluster
// configuration).
//
// Calico's Kubernetes data model (store.Derived: DerivedEndpoints is true): two Calico kinds
// are views, not CRD objects, so that nothing is stored per pod beyond the Pod:
//   - WorkloadEndpoint is derived from a Pod bound to a node (spec.nodeName), not on the
//     host's network, not finished (phase Succeeded or Failed: dropped, as Calico does; a
//     pod with deletionTimestamp still shows its endpoint until it is gone), carrying the
//     annotations cni.projectcalico.org/containerID and cni.projectcalico.org/podIPs
//     (comma-separated CIDRs; cni.projectcalico.org/podIP when absent). Its name is
//     model.EndpointName(node, pod, containerID, interface), the interface eth0 unless
//     trellis.dev/interfaceName says otherwise; uid and resourceVersion are the pod's; the
//     labels are the pod's plus the identity labels (namespace, orchestrator, service
//     account; namespace labels come through profile kns.<ns>); profiles kns.<ns> and
//     ksa.<ns>.<sa>; interfaceName model.HostVethName; ports the containers' named ports.
//     Create and Update write those annotations with a merge patch guarded by the pod's
//     uid and resourceVersion (Create of a missing pod is an error naming it); Delete
//     removes them. What the Pod cannot hold (mac, ipNATs, gateways, labels, ports) is not
//     written. List evaluates label selectors here, on the derived labels. A Watch follows
//     the Pods: ADDED when a pod comes to show an endpoint, MODIFIED when what it shows
//     changes (not for changes the view does not show), DELETED when it stops or the pod
//     is deleted; it first lists the pods at its revision (exactly) to know which show one.
//   - Node (projectcalico.org/v3) is derived from every Kubernetes Node: bgp, VXLAN,
//     IP-in-IP and WireGuard fields from Calico's projectcalico.org/... annotations
//     (nodeview.go), labels the node's, orchRefs naming it, addresses CalicoNodeIP (the BGP
//     addresses) then its InternalIP and ExternalIP, status.podCIDRs its spec.podCIDRs.
//     Update writes the annotations (compare-and-swap); Create is ErrAlreadyExists when
//     the Kubernetes Node exists and an error naming it when not; Delete removes the
//     annotations and leaves the Kubernetes Node (which keeps showing an empty Calico
//     Node). Labels, addresses and podCIDRs are the Kubernetes Node's and not written.
//
// How the contract maps:
//   - Get is a quorum read; List one unpaginated list (namespace and label selector
//     evaluated by the API server) whose resourceVersion is the Revision.
//   - Create: AlreadyExists -> store.ErrAlreadyExists. The API server sets uid,
//     creationTimestamp, generation and resourceVersion, applies its defaults and admission;
//     whatever the caller put in those four fields is dropped.
//   - Update with a resourceVersion is the API server's compare-and-swap (409 ->
//     store.ErrConflict); without one the backend reads the current version and retries on
//     conflict, as the etcd backend does. For Pod, Service, Node and Namespace, whose status
//     is a subresource, a non-empty status the first write did not keep is written by a
//     second update of the status subresource, guarded by the first write's version.
//   - Delete reads the object, checks the preconditions (store.ErrConflict) and deletes with
//     uid and resourceVersion preconditions. Kubernetes deletion rules apply: a Pod is first
//     marked (deletionTimestamp: a MODIFIED event) and then removed, at once when it is
//     bound to no node; an object with finalizers (a Namespace) or a bound Pod stays
//     terminating until its controller or kubelet finishes.
//   - Watch is one API watch per kind (all registered kinds for a nil kind) with bookmarks,
//     resumed transparently when the API server ends it. Events of one kind are in order;
//     there is no order between kinds. A 410 Gone ("too old resource version": the history
//     was compacted) or any other failure to continue is delivered as store.EventResync, the
//     last event; so is the installation of an upstream kind's CRD that was absent when the
//     watch began (checked every 30 s), so that the watcher lists the kind. A DELETED event's object carries the resourceVersion of the last state
//     this watch saw of it (the API server stamps it with the deletion's); an object the
//     watch never saw keeps the deletion's.
//   - Errors: 404 -> ErrNotFound (also for a missing namespace; for a list or watch it means
//     an unserved resource, a CRD not installed, and is no sentinel), 409 -> ErrConflict, 413 or
//     a body over store.MaxObjectBytes -> ErrTooLarge, no connection, 429, 503, 504 and
//     deadlines -> ErrUnavailable; the mapping is in errors.go and nothing above it looks at
//     API status codes or text.
//
// Invariants: resourceVersions are passed through unparsed; every object returned is a fresh
// model object decoded from the API server's JSON; the constructor does no I/O and starts
// nothing; every watch goroutine ends when its Watch is stopped or its context ends. There
// is no client-side rate limit: the API server's priority and fairness applies.
//
// It must never force-delete (grace period 0) or remove finalizers: those belong to the
// owners of the objects.
package kube
