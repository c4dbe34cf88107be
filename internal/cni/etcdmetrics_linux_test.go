package cni

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// etcdCounters reads, from the embedded etcd's metrics (registered with prometheus's
// default registry in this process), the raft proposals applied (one per write request)
// and the WAL fsyncs so far.
type etcdCounters struct{ proposals, fsyncs float64 }

func readEtcdCounters(b *testing.B) etcdCounters {
	mfs, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		b.Fatal(err)
	}
	var c etcdCounters
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			switch mf.GetName() {
			case "etcd_server_proposals_applied_total":
				c.proposals += m.GetGauge().GetValue() + m.GetCounter().GetValue()
			case "etcd_disk_wal_fsync_duration_seconds":
				c.fsyncs += float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return c
}

func (c etcdCounters) sub(o etcdCounters) etcdCounters {
	return etcdCounters{proposals: c.proposals - o.proposals, fsyncs: c.fsyncs - o.fsyncs}
}

// reportCounters reports the median per-call writes (proposals) and WAL fsyncs.
func reportCounters(b *testing.B, name string, cs []etcdCounters) {
	if len(cs) == 0 {
		return
	}
	var p, f []float64
	for _, c := range cs {
		p, f = append(p, c.proposals), append(f, c.fsyncs)
	}
	b.ReportMetric(median(p), name+"-writes")
	b.ReportMetric(median(f), name+"-fsyncs")
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	return s[len(s)/2]
}
