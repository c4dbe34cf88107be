package agent

import (
	"sync"
	"time"

	"github.com/trellisnet/trellis/internal/dataplane/nft"
)

// Status is what /status serves and `trellis node status` prints.
type Status struct {
	Node  string `json:"node"`
	Table string `json:"table"`
	// Healthy: the process is alive and its sync loop is not stuck (/healthz).
	Healthy bool `json:"healthy"`
	// Ready: in sync with the datastore and the last sync succeeded (/readyz).
	Ready bool `json:"ready"`
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

// syncSnapshot describes one successful sync.
type syncSnapshot struct {
	at         time.Time
	took       time.Duration
	kind       string
	operations int
	endpoints  int
	policies   int
	services   serviceCounts
	stats      nft.Stats
	tiers      map[string]string // policy short name -> tier, for rule metrics
}

// health tracks what /healthz, /readyz and /status report. Safe for concurrent use.
type health struct {
	mu        sync.Mutex
	busySince time.Time // zero when the runner is idle
	last      *syncSnapshot
	lastOK    bool
	lastErr   error
	errAt     time.Time
	syncs     uint64
	errors    uint64
}

func (h *health) busy(t time.Time) { h.mu.Lock(); h.busySince = t; h.mu.Unlock() }
func (h *health) idle()            { h.mu.Lock(); h.busySince = time.Time{}; h.mu.Unlock() }

func (h *health) succeeded(s syncSnapshot) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.last, h.lastOK = &s, true
	h.syncs++
}

func (h *health) failed(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.lastOK, h.lastErr, h.errAt = false, err, time.Now()
	h.errors++
}

// tiers returns the policy->tier map of the last successful sync.
func (h *health) tiers() map[string]string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.last == nil {
		return nil
	}
	return h.last.tiers
}

// Status returns the agent's current status.
func (a *Agent) Status() Status {
	peers := a.routing.peers()
	h := &a.health
	h.mu.Lock()
	defer h.mu.Unlock()
	s := Status{Node: a.cfg.NodeName, Table: a.cfg.TableName, Syncs: h.syncs, Errors: h.errors, BGPPeers: peers}
	s.Healthy = h.busySince.IsZero() || time.Since(h.busySince) < a.cfg.StuckAfter
	s.InSync = h.last != nil
	s.Ready = s.InSync && h.lastOK
	if h.last != nil {
		t := h.last.at
		s.LastSync, s.LastSyncType, s.LastSyncSeconds = &t, h.last.kind, h.last.took.Seconds()
		s.LastOperations = h.last.operations
		s.Endpoints, s.Policies = h.last.endpoints, h.last.policies
		s.Services, s.ServicePorts, s.ServiceEndpoints = h.last.services.services, h.last.services.ports, h.last.services.endpoints
		s.Chains, s.Rules, s.Sets, s.SetElements = h.last.stats.Chains, h.last.stats.Rules, h.last.stats.Sets, h.last.stats.Elements
	}
	if h.lastErr != nil {
		t := h.errAt
		s.LastError, s.LastErrorTime = h.lastErr.Error(), &t
	}
	return s
}
