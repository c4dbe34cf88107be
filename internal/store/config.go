package store

import "time"

// DefaultEndpoint is the client address of the local embedded datastore started by
// `trellis datastore run`: a unix socket, so a single machine needs no TCP port.
const DefaultEndpoint = "unix:///run/trellis/datastore.sock"

// Config says how to reach a datastore: an etcd cluster (store/etcd) or a Kubernetes API
// server (store/kube). cmd/trellis fills it from flags and the environment; backends never
// read either. Each backend ignores the fields of the other.
type Config struct {
	// Endpoints are client URLs: http://, https://, unix:// or unixs://. Empty means
	// DefaultEndpoint.
	Endpoints []string
	// CAFile verifies the server; CertFile and KeyFile are the client certificate. Any of
	// them set turns TLS on.
	CAFile, CertFile, KeyFile string
	// DialTimeout bounds establishing a connection; zero means 5 seconds.
	DialTimeout time.Duration
	// RequestTimeout bounds each request whose context has no deadline, so that an
	// unreachable datastore yields ErrUnavailable instead of a hang; zero means 15 seconds.
	// Both backends honour it.
	RequestTimeout time.Duration

	// Kubeconfig is the path of the kubeconfig the Kubernetes backend (store/kube) uses;
	// empty means the in-cluster configuration (the pod's service account).
	Kubeconfig string
	// KubeContext selects a context of Kubeconfig; empty means its current context.
	KubeContext string
}
