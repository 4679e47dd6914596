package stage

import (
	"runtime"
	"testing"
)

// Two runs at once: GOMAXPROCS follows the one with the most partitions while it folds, not
// the one that started last.
func TestProcFitFollowsTheWidestRunInProgress(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	if runtime.NumCPU() < 2 {
		t.Skip("needs 2 CPUs to tell 1 partition from 2")
	}
	var f procFit
	wide := f.fold(2)
	if got := runtime.GOMAXPROCS(0); got != 2 {
		t.Fatalf("one run with 2 partitions: GOMAXPROCS %d, want 2", got)
	}
	narrow := f.fold(1)
	if got := runtime.GOMAXPROCS(0); got != 2 {
		t.Fatalf("a 1-partition run started while the 2-partition one folds: GOMAXPROCS %d, want 2", got)
	}
	wide()
	if got := runtime.GOMAXPROCS(0); got != 1 {
		t.Fatalf("the 2-partition run ended: GOMAXPROCS %d, want 1", got)
	}
	huge := f.fold(runtime.NumCPU() + 5)
	if got := runtime.GOMAXPROCS(0); got != runtime.NumCPU() {
		t.Fatalf("more partitions than CPUs: GOMAXPROCS %d, want %d", got, runtime.NumCPU())
	}
	huge()
	narrow()
	if got := runtime.GOMAXPROCS(0); got != 1 {
		t.Fatalf("no run folding: GOMAXPROCS %d, want the last setting (1)", got)
	}
}
