package agg

import (
	"syscall"
	"testing"
	"time"

	"github.com/modular-runtime/aggregate/internal/testwire"
)

func realFrames(tb testing.TB) ([][]byte, int) { return testwire.RealFrames(tb) }

// cpuNow is the CPU time (user + system) of the process so far.
func cpuNow() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
