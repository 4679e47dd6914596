package crash

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestParse(t *testing.T) {
	if p, err := Parse("", "/tmp/m"); p != nil || err != nil {
		t.Fatalf("unset: %v, %v", p, err)
	}
	p, err := Parse("saved:12", "/tmp/m")
	if err != nil || p.Name != "saved" || p.Checkpoint != 12 || p.Marker != "/tmp/m" || p.Kill == nil {
		t.Fatalf("saved:12 = %+v, %v", p, err)
	}
	if p, err := Parse("barrier:1", "m"); err != nil || p.Name != Barrier || p.Checkpoint != 1 {
		t.Fatalf("barrier:1 = %+v, %v", p, err)
	}
	for _, c := range []struct{ at, marker, want string }{
		{"saved", "m", `MR_CRASH_AT="saved" is malformed: expected <point>:<N>`},
		{"saved:", "m", "is malformed"},
		{":3", "m", "is malformed"},
		{"saved:-1", "m", "is malformed"},
		{"saved:1.5", "m", "is malformed"},
		{" saved:1", "m", "is malformed"},
		{"saved:0", "m", `MR_CRASH_AT="saved:0": the checkpoint must be a number from 1`},
		{"saved:99999999999999999999", "m", "the checkpoint must be a number from 1"},
		{"commit:2", "m", `MR_CRASH_AT="commit:2": "commit" is a crash point of ingest`},
		{"end:0", "m", `"end" is a crash point of sink`},
		{"boom:2", "m", `"boom" is not a crash point; the aggregate stage has "barrier" and "saved"`},
		{"barrier:2", "", `MR_CRASH_AT="barrier:2" needs MR_CRASH_MARKER`},
	} {
		p, err := Parse(c.at, c.marker)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Parse(%q, %q) = %+v, %v; want an error containing %q", c.at, c.marker, p, err, c.want)
		}
	}
}

func TestAtFiresOnceAtItsPoint(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "crashed")
	p, err := Parse("saved:3", marker)
	if err != nil {
		t.Fatal(err)
	}
	kills := 0
	p.Kill = func() {
		kills++
		if _, err := os.Stat(marker); err != nil {
			t.Errorf("killed before the marker exists: %v", err)
		}
	}
	for _, hit := range []struct {
		point string
		n     uint64
	}{{Barrier, 3}, {Saved, 2}, {Saved, 4}} {
		if err := p.At(hit.point, hit.n); err != nil || kills != 0 {
			t.Fatalf("At(%s, %d): %v, %d kills", hit.point, hit.n, err, kills)
		}
	}
	if err := p.At(Saved, 3); err != nil || kills != 1 {
		t.Fatalf("At(saved, 3): %v, %d kills", err, kills)
	}
	if b, _ := os.ReadFile(marker); !strings.HasPrefix(string(b), "aggregate saved:3 pid ") {
		t.Fatalf("marker holds %q", b)
	}
	// The marker exists: a restarted process does not crash again.
	if err := p.At(Saved, 3); err != nil || kills != 1 {
		t.Fatalf("second At(saved, 3): %v, %d kills", err, kills)
	}
	// A marker that cannot be created: no crash, and an error saying why.
	p.Marker = filepath.Join(t.TempDir(), "missing-dir", "m")
	if err := p.At(Saved, 3); err == nil || !strings.Contains(err.Error(), "crash point saved:3 not taken") || kills != 1 {
		t.Fatalf("unwritable marker: %v, %d kills", err, kills)
	}
	var none *Point
	if err := none.At(Saved, 3); err != nil {
		t.Fatal(err)
	}
}

// TestDefaultKillIsSIGKILL runs the test binary again to fire a real crash point in it.
func TestDefaultKillIsSIGKILL(t *testing.T) {
	if marker := os.Getenv("CRASH_TEST_MARKER"); marker != "" {
		p, err := Parse("barrier:7", marker)
		if err != nil {
			os.Exit(3)
		}
		_ = p.At(Barrier, 7)
		os.Exit(4) // not reached
	}
	marker := filepath.Join(t.TempDir(), "crashed")
	cmd := exec.Command(os.Args[0], "-test.run=^TestDefaultKillIsSIGKILL$")
	cmd.Env = append(os.Environ(), "CRASH_TEST_MARKER="+marker)
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("the child ended with %v", err)
	}
	if ws, ok := exit.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("the child ended with %v, want killed by SIGKILL", err)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Fatalf("no marker: %v", err)
	}
}
