// Package cni is the Trellis CNI plugin (`trellis-cni`) and IPAM plugin (`trellis-ipam`):
// one binary, dispatched on the name it was invoked by, speaking CNI spec 0.3.0, 0.3.1,
// 0.4.0, 1.0.0 and 1.1.0 (ADD, DEL, CHECK, STATUS, GC, VERSION).
//
// Pod interface (Calico's model): a veth pair. The host side is named "trl" followed by
// the first 11 hex characters of the SHA-1 of "namespace.pod" (of the container ID for a
// workload without a pod name), 14 characters in all; it has the MAC ee:ee:ee:ee:ee:ee,
// proxy ARP and forwarding on, and a /32 (/128) route to each pod address. The pod side is
// the interface CNI_IFNAME (eth0) with /32 (/128) addresses, a default route via 169.254.1.1
// (reached by a link-scope route) and, for IPv6, via the host side's link-local address
// fe80::ecee:eeff:feee:eeee (derived from the fixed MAC; DAD is off on both ends).
//
// NetConf (JSON, besides the standard cniVersion/name/type):
//
//	datastore_type       etcdv3 (default) or kubernetes
//	datastore_endpoints  etcd client URLs; default store.DefaultEndpoint
//	kubernetes           {"kubeconfig": PATH}: the API server of datastore_type kubernetes (required there)
//	datastore_timeout    bound of each datastore request (Go duration); default 10s
//	nodename             this node's name; default the host name
//	mtu                  pod interface MTU; 0: the MTU of the host's default-route device, else 1500
//	policy_wait          wait for the node agent to program the endpoint's policy (default false)
//	policy_wait_timeout  how long (Go duration); default 10s. ADD fails (and is undone) on timeout
//	agent_socket         the node agent's status socket, asked GET /readyz by STATUS;
//	                     default /run/trellis/node/<nodename>/agent.sock; "-" disables the check
//	log_file_path        log file (default: none); log_level debug|info|warn|error (default info)
//	ipam                 {"type": "trellis-ipam", "ipv4_pools": [...], "ipv6_pools": [...],
//	                      "assign_ipv4": "true", "assign_ipv6": "false"}
//
// STATUS returns code 50 when the datastore does not answer and 51 while the node agent does
// not answer 200 on its socket's /readyz (not running, or not in sync). GC releases the addresses (handles "<network name>.<container ID>" with
// node attribute this node) and WorkloadEndpoints of this node whose container is not in
// cni.dev/valid-attachments.
//
// The policy-wait contract: after writing the WorkloadEndpoint the plugin watches the
// EndpointStatus (trellis.dev/v1) of the same namespace and name (polling every 20 ms if
// the watch cannot run) until its endpointUID is the endpoint's UID and policyProgrammed
// is true. With datastore_type kubernetes no EndpointStatus is stored per pod: the plugin
// asks the node agent's socket (agentapi.EndpointPath, long-polls of at most 5 s, again
// until the timeout, also while the agent does not answer yet) whether the endpoint with the
// written UID (the pod's) is programmed; agent_socket "-" is then refused with policy_wait.
//
// ADD latency: the plugin is a new process per call, so its start-up is part of every
// ADD. Package pluginproc, initialised before the bulk of the linked packages, turns the
// garbage collector off (bounded by a 256 MiB memory limit) and makes the rest of package
// initialisation skip its Prometheus registrations; ADD creates the veth pair while it reads the datastore and runs IPAM, and
// writes the WorkloadEndpoint while it configures addresses and routes; DEL deletes the
// veth while it releases addresses. The "command done" log record carries the duration of
// each phase and the number of datastore requests.
//
// Invariants: stdout carries only the CNI result or error JSON; logs go to the log file and
// to stderr (warnings and errors). ADD is idempotent for a container (addresses are found
// again by handle "<network name>.<container ID>", the interface is rebuilt); DEL is
// idempotent and succeeds when the namespace or the link is already gone; it removes the
// pair through the pod side in CNI_NETNS, never by the host side's name, which a pod
// re-created under the same name (a StatefulSet's) shares with its old sandbox, whose DEL
// the runtime repeats after the new ADD. When ADD fails
// half-way every step already done (addresses, links, endpoint) is undone, driven by a
// success flag checked in a defer. Namespace switching goes through internal/netns.
//
// It must never touch a link, route or address it did not create by name.
package cni
