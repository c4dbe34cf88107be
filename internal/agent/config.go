package agent

import (
	"time"

	"github.com/trellisnet/trellis/internal/model"

	"github.com/trellisnet/trellis/internal/agent/agentapi"
)

// Defaults for Config's zero values.
const (
	DefaultResyncPeriod = 60 * time.Second
	DefaultRateLimit    = 50 * time.Millisecond
	DefaultRetryPeriod  = time.Second
	DefaultHealthAddr   = agentapi.DefaultHealthAddr
	DefaultTableName    = "trellis"
)

// Routing modes of Config.Routing.
const (
	// RoutingAuto programs pod routing when this node's Node resource has a BGP address
	// (spec.bgp.ipv4Address) or an IPv4 pool uses VXLAN (Always or CrossSubnet).
	RoutingAuto = "auto"
	// RoutingOff never programs routes, VXLAN devices or BGP sessions.
	RoutingOff = "off"
)

// Config is the node agent's configuration; cmd fills it from flags and the environment.
type Config struct {
	// NodeName is the node whose endpoints this agent enforces (required).
	NodeName string
	// ResyncPeriod is the interval of full syncs that repair drift; DefaultResyncPeriod.
	ResyncPeriod time.Duration
	// RateLimit is the minimum interval between the starts of two syncs; changes arriving
	// meanwhile are coalesced into the next one. DefaultRateLimit.
	RateLimit time.Duration
	// RetryPeriod is the delay before retrying after a failed sync; DefaultRetryPeriod.
	RetryPeriod time.Duration
	// StuckAfter is how long one sync may run before /healthz fails; twice ResyncPeriod
	// plus a minute when zero.
	StuckAfter time.Duration
	// HealthAddr is the TCP address of the health, metrics and status server;
	// DefaultHealthAddr; agentapi.Disabled turns it off.
	HealthAddr string
	// MetricsAddr, when set (and not agentapi.Disabled), is a TCP address serving /metrics
	// only, for a scraper over the network; HealthAddr also serves /metrics.
	MetricsAddr string
	// StatusSocket is the unix socket serving the same endpoints (used by `trellis node
	// status`); agentapi.SocketPath(node); agentapi.Disabled turns it off.
	StatusSocket string
	// TableName is the inet table the agent owns (shown in status; the Dataplane is already
	// bound to it); DefaultTableName.
	TableName string
	// WorkloadPrefix starts workload interface names; the renderer's default ("trl") when
	// empty.
	WorkloadPrefix string
	// LogPrefix starts the nft log prefix of Log rules; the renderer's default when empty.
	LogPrefix string
	// IPAMLeakGrace, when positive, makes this agent the cluster's IPAM leak collector:
	// addresses `trellis ipam check` reports as leaked for this long are released. Turn it on
	// in one place per cluster (zero: off).
	IPAMLeakGrace time.Duration
	// DatastoreEndpoint names the datastore in logs and /readyz when it cannot be reached.
	DatastoreEndpoint string
	// Routing is RoutingAuto (also when empty) or RoutingOff: whether the agent programs
	// pod routing (BGP speaker, VXLAN device, routes) for this node.
	Routing string
	// BGPIPv4Address, when set, is this node's BGP address (192.0.2.10/24, or
	// BGPAutodetect), which the agent writes to its Calico Node's spec.bgp.ipv4Address at
	// start when it differs (calico-node's IP; in the kubernetes datastore an annotation of
	// the Kubernetes Node). Empty: the Node is left as it is.
	BGPIPv4Address string
	// ASNumber, when set with BGPIPv4Address, is written as spec.bgp.asNumber.
	ASNumber *model.ASNumber
	// FlowLogGroup, when not 0, turns flow logs on: the table logs every verdict of a
	// tracked connection to this NFLOG group and the agent reads it (only one reader per
	// group and network namespace). Flows are aggregated every FlowInterval
	// (DefaultFlowInterval), kept in a store of FlowStoreSize (DefaultFlowStoreSize)
	// served on /api/v1/flows, and, when set, appended to FlowLogFile (JSON lines, rotated
	// past FlowLogFileMaxBytes, FlowLogFileKeep old files) and pushed to the aggregator
	// at FlowAggregator (a URL).
	FlowLogGroup        uint16
	FlowInterval        time.Duration
	FlowStoreSize       int
	FlowLogFile         string
	FlowLogFileMaxBytes int64
	FlowLogFileKeep     int
	FlowAggregator      string
	// FlowMarkMask are the packet-mark bits flow IDs ride in (nft.Config.FlowMarkMask;
	// 0: nft.DefaultFlowMarkMask).
	FlowMarkMask uint32
}

func (c Config) withDefaults() Config {
	if c.ResyncPeriod <= 0 {
		c.ResyncPeriod = DefaultResyncPeriod
	}
	if c.RateLimit <= 0 {
		c.RateLimit = DefaultRateLimit
	}
	if c.RetryPeriod <= 0 {
		c.RetryPeriod = DefaultRetryPeriod
	}
	if c.StuckAfter <= 0 {
		c.StuckAfter = 2*c.ResyncPeriod + time.Minute
	}
	if c.HealthAddr == "" {
		c.HealthAddr = DefaultHealthAddr
	}
	if c.StatusSocket == "" {
		c.StatusSocket = agentapi.SocketPath(c.NodeName)
	}
	if c.TableName == "" {
		c.TableName = DefaultTableName
	}
	if c.FlowInterval <= 0 {
		c.FlowInterval = DefaultFlowInterval
	}
	if c.FlowStoreSize <= 0 {
		c.FlowStoreSize = DefaultFlowStoreSize
	}
	if c.FlowLogFileMaxBytes <= 0 {
		c.FlowLogFileMaxBytes = 100 << 20
	}
	if c.FlowLogFileKeep <= 0 {
		c.FlowLogFileKeep = 5
	}
	return c
}
