package agentapi

import "time"

// Status is what /status serves and `trellis node status` prints.
type Status struct {
	Node  string `json:"node"`
	Table string `json:"table"`
	// Healthy: the process is alive and its sync loop is not stuck (/healthz).
	Healthy bool `json:"healthy"`
	// Ready: in sync with the datastore, the datastore reachable and the last sync
	// succeeded (/readyz).
	Ready bool `json:"ready"`
	// DatastoreUnreachable, when set, says since when and why the datastore does not
	// answer ("datastore unreachable since ...: ENDPOINT: ERROR"); the dataplane keeps
	// enforcing what it has meanwhile.
	DatastoreUnreachable string `json:"datastoreUnreachable,omitempty"`
	// InSync: the initial datastore list completed and was programmed.
	InSync bool `json:"inSync"`
	// LastSync is when the last successful sync started; LastSyncType is full or partial.
	LastSync        *time.Time `json:"lastSync,omitempty"`
	LastSyncType    string     `json:"lastSyncType,omitempty"`
	LastSyncSeconds float64    `json:"lastSyncSeconds"`
	LastOperations  int        `json:"lastOperations"`
	LastError       string     `json:"lastError,omitempty"`
	LastErrorTime   *time.Time `json:"lastErrorTime,omitempty"`
	Syncs           uint64     `json:"syncs"`
	Errors          uint64     `json:"errors"`
	Endpoints       int        `json:"endpoints"`
	Policies        int        `json:"policies"`
	Chains          int        `json:"chains"`
	Rules           int        `json:"rules"`
	Sets            int        `json:"sets"`
	SetElements     int        `json:"setElements"`
	// Services, ServicePorts (per IP family) and ServiceEndpoints (summed over ports) the
	// service proxy programmed.
	Services         int `json:"services"`
	ServicePorts     int `json:"servicePorts"`
	ServiceEndpoints int `json:"serviceEndpoints"`
	// BGPPeers are the BGP speaker's sessions (routing with BGP only).
	BGPPeers []BGPPeer `json:"bgpPeers,omitempty"`
}

// BGPPeer is one BGP session as status reports it.
type BGPPeer struct {
	Address  string `json:"address"`
	ASNumber uint32 `json:"asNumber,omitempty"`
	State    string `json:"state"`
	Since    string `json:"since,omitempty"`
	// Uptime is how long the session has been established ("0s" when it is down).
	Uptime     string `json:"uptime,omitempty"`
	Received   uint64 `json:"received"`
	Accepted   uint64 `json:"accepted"`
	Advertised uint64 `json:"advertised"`
}
