package cni

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/trellisnet/trellis/internal/netns"
)

// BenchmarkAddDel drives ADD then DEL through libcni (a process per call, the embedded
// etcd as datastore, no policy wait) and reports p50/p99 latencies of each, the plugin
// processes' CPU time, and from the plugin's log its own duration, phases and datastore
// requests. The plugin is this test binary; TRELLIS_CNI_PLUGIN=path/to/trellis measures
// the real binary (whose start-up costs more: it links everything).
// Run: go test -run '^$' -bench AddDel -benchtime 100x ./internal/cni/
func BenchmarkAddDel(b *testing.B) {
	e := newEnv(b)
	l := e.conflist(confOpts{version: "1.1.0", assign6: true})
	var adds, dels, addCPU, delCPU []time.Duration
	var addEtcd []etcdCounters
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		p := &pod{ns: "default", name: fmt.Sprintf("bench-%d", i), netns: "trl-p-" + randSuffix(), containerID: fmt.Sprintf("bench-%d", i)}
		if err := netns.Create(p.netns); err != nil {
			b.Fatal(err)
		}
		e.createPodObject(p)
		b.StartTimer()
		start, cpu, before := time.Now(), childrenCPU(b), readEtcdCounters(b)
		e.mustAdd(l, p.rt())
		adds = append(adds, time.Since(start))
		addEtcd = append(addEtcd, readEtcdCounters(b).sub(before))
		addCPU = append(addCPU, childrenCPU(b)-cpu)
		start, cpu = time.Now(), childrenCPU(b)
		if err := e.run(func(ctx context.Context) error { return e.cni.DelNetworkList(ctx, l, p.rt()) }); err != nil {
			b.Fatal(err)
		}
		dels = append(dels, time.Since(start))
		delCPU = append(delCPU, childrenCPU(b)-cpu)
		b.StopTimer()
		if err := netns.Delete(p.netns); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	report(b, "add", adds)
	report(b, "del", dels)
	report(b, "add-cpu", addCPU)
	report(b, "del-cpu", delCPU)
	reportCounters(b, "add", addEtcd)
	e.reportLogged(b, "ADD", "add")
	e.reportLogged(b, "DEL", "del")
}

// childrenCPU is the user+system CPU time of this process's finished children: the plugin
// processes libcni ran (the datastore runs in this process). Unlike latency it hardly
// depends on what else the machine is doing.
func childrenCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// loggedCommand is one "command done" record of the plugin's log.
type loggedCommand struct {
	Msg           string                   `json:"msg"`
	Command       string                   `json:"command"`
	Duration      time.Duration            `json:"duration"`
	StoreRequests int                      `json:"storeRequests"`
	Phases        map[string]time.Duration `json:"phases"`
}

// logged reads the plugin's own "command done" records of cmd from its log.
func (e *env) logged(cmd string) []loggedCommand {
	data, err := os.ReadFile(filepath.Join(e.dir, "cni.log"))
	if err != nil {
		return nil
	}
	var out []loggedCommand
	for _, line := range strings.Split(string(data), "\n") {
		var rec loggedCommand
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "command done" && rec.Command == cmd {
			out = append(out, rec)
		}
	}
	return out
}

// reportLogged reports the in-plugin duration of cmd, its phases (p50 only) and its
// datastore requests (median) from the plugin's log.
func (e *env) reportLogged(b *testing.B, cmd, name string) {
	recs := e.logged(cmd)
	if len(recs) == 0 {
		return
	}
	var total []time.Duration
	var reqs []int
	phases := map[string][]time.Duration{}
	for _, r := range recs {
		total = append(total, r.Duration)
		reqs = append(reqs, r.StoreRequests)
		for p, d := range r.Phases {
			phases[p] = append(phases[p], d)
		}
	}
	report(b, name+"-inplugin", total)
	slices.Sort(reqs)
	b.ReportMetric(float64(reqs[len(reqs)/2]), name+"-store-requests")
	for p, d := range phases {
		slices.Sort(d)
		b.ReportMetric(float64(d[len(d)/2].Microseconds())/1000, name+"-"+p+"-p50-ms")
	}
}

// BenchmarkAddPolicyWait measures ADD including the policy wait against an agent that
// answers as soon as the endpoint appears (the wait's own overhead).
func BenchmarkAddPolicyWait(b *testing.B) {
	e := newEnv(b)
	l := e.conflist(confOpts{version: "1.1.0", policyWait: "10s"})
	var adds []time.Duration
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		p := &pod{ns: "default", name: fmt.Sprintf("wait-%d", i), netns: "trl-p-" + randSuffix(), containerID: fmt.Sprintf("wait-%d", i)}
		if err := netns.Create(p.netns); err != nil {
			b.Fatal(err)
		}
		e.createPodObject(p)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { fakeAgent(ctx, e, p); close(done) }()
		b.StartTimer()
		start := time.Now()
		e.mustAdd(l, p.rt())
		adds = append(adds, time.Since(start))
		b.StopTimer()
		cancel()
		<-done
		if err := e.run(func(ctx context.Context) error { return e.cni.DelNetworkList(ctx, l, p.rt()) }); err != nil {
			b.Fatal(err)
		}
		if err := netns.Delete(p.netns); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	report(b, "add-with-wait", adds)
	e.reportLogged(b, "ADD", "add-with-wait")
}

func report(b *testing.B, name string, d []time.Duration) {
	if len(d) == 0 {
		return
	}
	slices.Sort(d)
	pct := func(p float64) float64 {
		return float64(d[min(len(d)-1, int(float64(len(d))*p))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), name+"-p50-ms")
	b.ReportMetric(pct(0.99), name+"-p99-ms")
}
