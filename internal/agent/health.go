package agent

import (
	"sync"
	"time"

	"github.com/trellisnet/trellis/internal/agent/agentapi"
	"github.com/trellisnet/trellis/internal/dataplane/nft"
)

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
func (a *Agent) Status() agentapi.Status {
	var peers []agentapi.BGPPeer
	if a.routing != nil {
		peers = a.routing.Peers()
	}
	h := &a.health
	h.mu.Lock()
	defer h.mu.Unlock()
	s := agentapi.Status{Node: a.cfg.NodeName, Table: a.cfg.TableName, Syncs: h.syncs, Errors: h.errors, BGPPeers: peers}
	s.Healthy = h.busySince.IsZero() || time.Since(h.busySince) < a.cfg.StuckAfter
	s.InSync = h.last != nil
	s.DatastoreUnreachable = a.reach.Reason()
	s.Ready = s.InSync && h.lastOK && s.DatastoreUnreachable == ""
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
