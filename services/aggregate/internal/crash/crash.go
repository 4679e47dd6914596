// Package crash implements the crash points recovery tests use (services/PIPELINE.md "Crash
// points"): with MR_CRASH_AT=<point>:<N> and MR_CRASH_MARKER=<file> the stage kills itself
// with SIGKILL at that point for checkpoint N, once: only while the marker file does not
// exist, which it creates first.
package crash

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"syscall"
	"time"
)

// The aggregate stage's points.
const (
	Barrier = "barrier" // Barrier N has arrived, nothing is done with it yet
	Saved   = "saved"   // the snapshot of N is in place, the barrier is not yet forwarded
)

// Points of the protocol that belong to other stages: named in the error, so a test that sets
// the wrong stage's variable learns why.
var otherStages = map[string]string{"commit": "ingest", "end": "sink"}

var spec = regexp.MustCompile(`^([A-Za-z_]+):([0-9]+)$`)

// Point is a configured crash point; a nil *Point never fires.
type Point struct {
	Name       string
	Checkpoint uint64
	Marker     string
	// Kill ends the process; tests replace it. The default sends SIGKILL to the own process
	// and does not return.
	Kill func()
}

// Parse reads the values of MR_CRASH_AT and MR_CRASH_MARKER. It returns nil when at is empty
// and an error naming the bad value when either is malformed.
func Parse(at, marker string) (*Point, error) {
	if at == "" {
		return nil, nil
	}
	m := spec.FindStringSubmatch(at)
	if m == nil {
		return nil, fmt.Errorf("MR_CRASH_AT=%q is malformed: expected <point>:<N>, e.g. saved:2", at)
	}
	name := m[1]
	if name != Barrier && name != Saved {
		if stage, ok := otherStages[name]; ok {
			return nil, fmt.Errorf("MR_CRASH_AT=%q: %q is a crash point of %s; the aggregate stage has %q and %q", at, name, stage, Barrier, Saved)
		}
		return nil, fmt.Errorf("MR_CRASH_AT=%q: %q is not a crash point; the aggregate stage has %q and %q", at, name, Barrier, Saved)
	}
	n, err := strconv.ParseUint(m[2], 10, 64)
	if err != nil || n < 1 {
		return nil, fmt.Errorf("MR_CRASH_AT=%q: the checkpoint must be a number from 1 (barriers count from 1)", at)
	}
	if marker == "" {
		return nil, fmt.Errorf("MR_CRASH_AT=%q needs MR_CRASH_MARKER=<file> (the crash happens once, while that file does not exist)", at)
	}
	return &Point{Name: name, Checkpoint: n, Marker: marker, Kill: killSelf}, nil
}

func killSelf() {
	_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
	for { // the signal is on its way: do nothing more
		time.Sleep(time.Hour)
	}
}

// At kills the process when point and checkpoint n are the configured ones and the marker
// file does not exist yet, creating it first. It returns an error only when it should have
// fired but could not create the marker (it then does not fire).
func (p *Point) At(point string, n uint64) error {
	if p == nil || p.Name != point || p.Checkpoint != n {
		return nil
	}
	f, err := os.OpenFile(p.Marker, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, os.ErrExist) {
		return nil // fired before: once only
	}
	if err != nil {
		return fmt.Errorf("crash point %s:%d not taken: cannot create %s: %v", point, n, p.Marker, err)
	}
	_, _ = fmt.Fprintf(f, "aggregate %s:%d pid %d\n", point, n, os.Getpid())
	_ = f.Close()
	p.Kill()
	return nil
}
