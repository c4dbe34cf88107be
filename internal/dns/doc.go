// Package dns is the cluster DNS server: it answers for the cluster zone (cluster.local)
// from an in-memory view of Services and EndpointSlices kept current by a store list +
// watch, the way CoreDNS's kubernetes plugin does:
//
//   - <svc>.<ns>.svc.<zone> A/AAAA: the cluster IPs; for a headless service the addresses
//     of its ready endpoints; an ExternalName service: a CNAME (not followed);
//   - <hostname-or-dashed-ip>.<svc>.<ns>.svc.<zone>: one endpoint of a headless service;
//   - _<port>._<proto>.<svc>.<ns>.svc.<zone> SRV for named service ports; for a headless
//     service, the named ports of its ready endpoints (its EndpointSlices may name ports
//     its spec does not);
//   - <dashed-ip>.<ns>.pod.<zone>: the address itself ("pods insecure");
//   - PTR in in-addr.arpa and ip6.arpa: a service's cluster IP names the service, a ready
//     endpoint of a headless service names <host>.<svc>.<ns>.svc.<zone> (the Kubernetes DNS
//     specification; the DNS conformance specs look these up).
//
// A name that exists without records of the asked type gets NOERROR with no answer; any
// other name, inside or outside the zone, gets NXDOMAIN.
//
// While the datastore cannot be reached the view keeps answering from what it has and a
// warning names the endpoint (store/reach); when it answers again the view lists again and
// re-watches.
//
// Metrics (Gatherer: queries by type and response code, request durations, answer records,
// the view's size, datastore reachability) are counted before a reply is written; Ready is
// the first list being in. cmd serves both on --health-addr (internal/healthsrv).
//
// It must never forward or recurse: no query ever leaves this server (the lab's network
// safety rule). It never writes to the store.
package dns
