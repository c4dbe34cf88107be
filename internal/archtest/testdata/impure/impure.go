package impure

import (
	"os"
	clock "time"

	"github.com/google/go-cmp/cmp"
)

// Run breaks every rule.
func Run() {
	go func() {}()
	_ = clock.Since(clock.Now())
	_ = os.Getpid()
	_ = cmp.Equal(1, 1)
}
