package lab

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"
)

// BenchmarkUp measures `trellis lab up` (to every agent ready) for 3 and 10 nodes; the lab
// is taken down outside the timed part. Root only.
func BenchmarkUp(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("the lab needs root")
	}
	for _, nodes := range []int{3, 10} {
		b.Run(fmt.Sprintf("nodes-%d", nodes), func(b *testing.B) {
			name := fmt.Sprintf("tbench%d", nodes)
			down := func() {
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				_ = exec.CommandContext(ctx, binary, "lab", "down", "--name", name).Run()
			}
			b.Cleanup(down)
			for b.Loop() {
				cmd := exec.Command(binary, "lab", "up", "--name", name, "--nodes", fmt.Sprint(nodes))
				if out, err := cmd.CombinedOutput(); err != nil {
					b.Fatalf("lab up: %v\n%s", err, out)
				}
				b.StopTimer()
				down()
				b.StartTimer()
			}
		})
	}
}
