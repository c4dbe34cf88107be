package controller

import (
	"context"
	"errors"
	"log/slog"
	"math/big"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/trellisnet/trellis/internal/ipam"
	"github.com/trellisnet/trellis/internal/ipam/ipamstore"
	"github.com/trellisnet/trellis/internal/runner/runnermetrics"
	"github.com/trellisnet/trellis/internal/store"
)

// metrics are the controllers' Prometheus metrics, in a registry of their own: the loops'
// runs (runnermetrics, labelled by loop), datastore reachability and IPAM utilisation per
// IPPool, read from the store at scrape time.
type metrics struct {
	reg   *prometheus.Registry
	loops *runnermetrics.Metrics
}

func newMetrics(st store.Store, reachCollectors []prometheus.Collector, log *slog.Logger) *metrics {
	m := &metrics{reg: prometheus.NewRegistry(), loops: runnermetrics.New()}
	m.reg.MustRegister(m.loops.Collectors()...)
	m.reg.MustRegister(reachCollectors...)
	m.reg.MustRegister(&ipamCollector{st: st, log: log})
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

var (
	poolLabels       = []string{"pool", "cidr"}
	poolCapacityDesc = prometheus.NewDesc("trellis_ipam_pool_capacity_addresses",
		"Addresses in an IPPool's CIDR (pool \"\": blocks outside every pool, capacity 0).", poolLabels, nil)
	poolAllocatedDesc = prometheus.NewDesc("trellis_ipam_pool_allocated_addresses",
		"Addresses allocated from an IPPool's blocks (pods, tunnels, reservations held by handles).", poolLabels, nil)
	poolBlocksDesc = prometheus.NewDesc("trellis_ipam_pool_blocks",
		"IPAM blocks claimed from an IPPool.", poolLabels, nil)
	poolBlockAddrsDesc = prometheus.NewDesc("trellis_ipam_pool_block_addresses",
		"Addresses in the blocks claimed from an IPPool (allocated or free).", poolLabels, nil)
	ipamUpDesc = prometheus.NewDesc("trellis_ipam_scrape_success",
		"1 when the IPAM utilisation of this scrape was read from the datastore, 0 when reading it failed.", nil, nil)
)

// ipamCollector reads IPPools and IPAM blocks at scrape time and reports utilisation per
// pool, as `trellis ipam show` computes it (ipam.Usage).
type ipamCollector struct {
	st  store.Store
	log *slog.Logger
}

func (c *ipamCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{poolCapacityDesc, poolAllocatedDesc, poolBlocksDesc, poolBlockAddrsDesc, ipamUpDesc} {
		ch <- d
	}
}

func (c *ipamCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	usage, err := poolUsage(ctx, c.st)
	if err != nil {
		c.log.Warn("read ipam utilisation failed", "err", err)
		ch <- prometheus.MustNewConstMetric(ipamUpDesc, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(ipamUpDesc, prometheus.GaugeValue, 1)
	for _, pu := range usage {
		cidr := ""
		if pu.Pool.CIDR.IsValid() {
			cidr = pu.Pool.CIDR.String()
		}
		l := []string{pu.Pool.Name, cidr}
		capacity, _ := new(big.Float).SetInt(pu.Size).Float64()
		blockAddrs := 0
		for _, b := range pu.Blocks {
			blockAddrs += b.Size
		}
		ch <- prometheus.MustNewConstMetric(poolCapacityDesc, prometheus.GaugeValue, capacity, l...)
		ch <- prometheus.MustNewConstMetric(poolAllocatedDesc, prometheus.GaugeValue, float64(pu.InUse), l...)
		ch <- prometheus.MustNewConstMetric(poolBlocksDesc, prometheus.GaugeValue, float64(len(pu.Blocks)), l...)
		ch <- prometheus.MustNewConstMetric(poolBlockAddrsDesc, prometheus.GaugeValue, float64(blockAddrs), l...)
	}
}

// poolUsage reads the pools and IPAM blocks and computes their utilisation.
func poolUsage(ctx context.Context, st store.Store) ([]ipam.PoolUsage, error) {
	pools, err := ipamstore.LoadPools(ctx, st)
	if err != nil {
		return nil, err
	}
	snap, err := ipam.New(ipamstore.New(st), ipamstore.Match).Snapshot(ctx)
	if err != nil {
		return nil, err
	}
	return ipam.Usage(snap, pools), nil
}

// Gatherer is the controllers' metrics registry, for /metrics.
func (c *Controller) Gatherer() prometheus.Gatherer { return c.metrics.reg }

// Ready is nil once Run has started the loops and while the datastore answers; else the
// reason (for /readyz).
func (c *Controller) Ready() error {
	if !c.running.Load() {
		return errors.New("controllers not started yet")
	}
	if r := c.mon.Reason(); r != "" {
		return errors.New(r)
	}
	return nil
}
