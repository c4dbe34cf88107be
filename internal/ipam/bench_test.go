package ipam

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
)

// BenchmarkAutoAssign4Nodes allocates from 4 nodes concurrently (4 goroutines, one per
// node) against MemStore: the allocator's own cost without datastore latency.
func BenchmarkAutoAssign4Nodes(b *testing.B) {
	ctx := context.Background()
	a := New(NewMemStore(), nil)
	p := Pool{Name: "p", CIDR: pfx("10.0.0.0/8")}
	var next, nodes atomic.Int64
	b.SetParallelism(1) // GOMAXPROCS goroutines: with -cpu 4, one per node
	b.RunParallel(func(pb *testing.PB) {
		node := fmt.Sprintf("node-%d", nodes.Add(1)%4)
		for pb.Next() {
			i := next.Add(1)
			if _, err := a.AutoAssign(ctx, AssignArgs{Node: node, Handle: fmt.Sprintf("h%d", i), Num4: 1, Pools: []Pool{p},
				Attrs: map[string]string{AttrNode: node}}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "allocs/s")
}
