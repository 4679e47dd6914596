package checkpoint

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/modular-runtime/aggregate/internal/testwire"
)

func writeString(s string) func(io.Writer) (int64, error) {
	return func(w io.Writer) (int64, error) {
		n, err := io.WriteString(w, s)
		return int64(n), err
	}
}

func TestSaveLoadAndKeepTheThreeNewest(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run") // created by the first Save
	s := New(dir, "aggregate", 0)
	if _, err := s.Load(1); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Load of a missing checkpoint: %v", err)
	}
	for n := uint64(1); n <= 5; n++ {
		size, err := s.Save(context.Background(), n, writeString("state "+strconv.FormatUint(n, 10)))
		if err != nil || size != 7 {
			t.Fatalf("Save(%d) = %d, %v", n, size, err)
		}
		if err := s.Prune(); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := testwire.DirFiles(t, dir), []string{"aggregate-3.snap", "aggregate-4.snap", "aggregate-5.snap"}; !slices.Equal(got, want) {
		t.Fatalf("files %v, want %v", got, want)
	}
	if b, err := s.Load(4); err != nil || string(b) != "state 4" {
		t.Fatalf("Load(4) = %q, %v", b, err)
	}
	// A second save of the same checkpoint replaces it.
	if _, err := s.Save(context.Background(), 5, writeString("again")); err != nil {
		t.Fatal(err)
	}
	if b, _ := s.Load(5); string(b) != "again" {
		t.Fatalf("Load(5) = %q", b)
	}
}

func TestPruneDropsAbandonedAttemptsFiles(t *testing.T) {
	dir := t.TempDir()
	// An earlier attempt saved 1..7; the run resumes from the committed checkpoint 4.
	for _, name := range []string{"aggregate-1.snap", "aggregate-2.snap", "aggregate-3.snap", "aggregate-4.snap", "aggregate-5.snap", "aggregate-6.snap", "aggregate-7.snap",
		"aggregate-7.snap.tmp-123", "sink-2.json", "aggregate-x.snap", "aggregate-05.snap"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("old"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s := New(dir, "aggregate", 4)
	if err := s.RemoveTemps(); err != nil {
		t.Fatal(err)
	}
	// Its first barrier after 4 is 8: 5, 6 and 7 are another history's and must not push
	// out 4 (still the only committed checkpoint).
	if _, err := s.Save(context.Background(), 8, writeString("new")); err != nil {
		t.Fatal(err)
	}
	if err := s.Prune(); err != nil {
		t.Fatal(err)
	}
	want := []string{"aggregate-05.snap", "aggregate-3.snap", "aggregate-4.snap", "aggregate-8.snap", "aggregate-x.snap", "sink-2.json"}
	if got := testwire.DirFiles(t, dir); !slices.Equal(got, want) {
		t.Fatalf("files %v, want %v", got, want)
	}
}

func TestSaveOfAnEndedStreamLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	s := New(dir, "aggregate", 0)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Save(ctx, 1, writeString("late")); !errors.Is(err, context.Canceled) {
		t.Fatalf("Save after cancel: %v", err)
	}
	failing := func(w io.Writer) (int64, error) {
		_, _ = io.WriteString(w, "part")
		return 4, errors.New("disk on fire")
	}
	if _, err := s.Save(context.Background(), 2, failing); err == nil || err.Error() != "disk on fire" {
		t.Fatalf("Save with a failing writer: %v", err)
	}
	if got := testwire.DirFiles(t, dir); len(got) != 0 {
		t.Fatalf("files left: %v", got)
	}
}
