// Package agentapi is what talks to a running node agent and what the agent publishes,
// apart from the daemon itself: the HTTP client of its health and status server
// (NewClient, Client.Status, Client.Get), the /status JSON shapes (Status, BGPPeer), the
// conventions a CLI or the lab needs to reach or describe an agent (SocketPath,
// DefaultSocketDir, Disabled) and the names the agent gives to what it owns in the
// datastore (TunnelHandle).
//
// Invariants:
//   - the JSON shapes are the agent's wire format: field names change only compatibly;
//   - the package is light: the standard library only, so a client (the CLI, the lab, the
//     cluster controller) links none of the agent's dataplane (knftables, netlink, gobgp).
//
// It must never import the agent daemon (internal/agent) or any dataplane, BGP or store
// package; the daemon imports it, not the other way round.
package agentapi
