// Package embed runs an etcd server inside the trellis process (`trellis datastore run`, and
// the lab), so that a single machine needs nothing else. Clients reach it with the etcd
// backend (store/etcd) at its client URLs, by default the unix socket
// store.DefaultEndpoint, so no TCP port is opened.
//
// A Server is made by New (no I/O) and started by Start, which returns once the member is
// ready to serve (or the start timeout expires); Run does Start, waits for the context and
// stops. The server logs through the slog.Logger it is given, at warn and above only.
//
// It must never remove a socket another live server is listening on: Start refuses to
// start when a unix client socket answers. Several members (Config.InitialCluster) form a
// real cluster; tests use that to kill a leader.
package embed
