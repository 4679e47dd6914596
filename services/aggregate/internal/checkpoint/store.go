// Package checkpoint keeps one stage's snapshot files of a checkpointed run
// (services/PIPELINE.md "Checkpoints and recovery"): <dir>/<stage>-<N>.snap, each written
// under a temporary name in the same directory, synced and renamed into place, so a reader
// finds a whole snapshot or none; only the newest few are kept.
package checkpoint

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Keep is how many snapshots of a run a stage keeps.
const Keep = 3

// Store is the snapshot files of one stage for one attempt of a run. Not safe for concurrent
// use; a run's stream owns it.
type Store struct {
	dir, stage string
	resumed    uint64   // the checkpoint this attempt resumed from (0: a fresh start)
	saved      []uint64 // checkpoints this attempt saved, ascending, the newest Keep
}

// New returns the store of `stage` files in dir for an attempt resuming from checkpoint
// `resumed` (0: a fresh start).
func New(dir, stage string, resumed uint64) *Store {
	return &Store{dir: dir, stage: stage, resumed: resumed}
}

// Dir is the directory of the snapshots.
func (s *Store) Dir() string { return s.dir }

// Path is the file of checkpoint n.
func (s *Store) Path(n uint64) string {
	return filepath.Join(s.dir, s.stage+"-"+strconv.FormatUint(n, 10)+".snap")
}

// Load reads checkpoint n; the error wraps fs.ErrNotExist when there is none.
func (s *Store) Load(n uint64) ([]byte, error) { return os.ReadFile(s.Path(n)) }

// Save writes checkpoint n with write (which returns the bytes it wrote) to a temporary file,
// syncs it and renames it into place, replacing any earlier file of n. When ctx has ended by
// then, it removes the temporary file instead and returns ctx's error: a stream that was
// ended must leave no snapshot behind.
func (s *Store) Save(ctx context.Context, n uint64, write func(io.Writer) (int64, error)) (int64, error) {
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return 0, err
	}
	f, err := os.CreateTemp(s.dir, fmt.Sprintf("%s-%d.snap.tmp-*", s.stage, n))
	if err != nil {
		return 0, err
	}
	tmp := f.Name()
	size, err := write(f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = ctx.Err()
	}
	if err == nil {
		err = os.Rename(tmp, s.Path(n))
	}
	if err != nil {
		_ = os.Remove(tmp)
		return 0, err
	}
	s.saved = append(s.saved, n)
	if len(s.saved) > Keep {
		s.saved = slices.Delete(s.saved, 0, len(s.saved)-Keep)
	}
	return size, nil
}

// list returns the checkpoint numbers of the snapshot files in the directory, and the names
// of leftover temporary files.
func (s *Store) list() (ids []uint64, temps []string, err error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, nil, err
	}
	prefix := s.stage + "-"
	for _, e := range entries {
		name := e.Name()
		rest, ok := strings.CutPrefix(name, prefix)
		if !ok {
			continue
		}
		if num, ok := strings.CutSuffix(rest, ".snap"); ok {
			if n, err := strconv.ParseUint(num, 10, 64); err == nil && n > 0 && strconv.FormatUint(n, 10) == num {
				ids = append(ids, n)
			}
		} else if strings.Contains(rest, ".snap.tmp-") {
			temps = append(temps, name)
		}
	}
	return ids, temps, nil
}

// Prune keeps the Keep newest snapshots of this attempt's history and deletes the others.
// The history is the checkpoints up to the one resumed from and those saved since; a file of
// a later checkpoint that this attempt has not saved is left from an abandoned attempt (whose
// batches the replay may cut differently): it was never committed and never will be, and it
// must not count among the newest, or it would push out the checkpoint a resume needs.
func (s *Store) Prune() error {
	ids, _, err := s.list()
	if err != nil {
		return err
	}
	var history []uint64
	var firstErr error
	remove := func(n uint64) {
		if err := os.Remove(s.Path(n)); err != nil && !os.IsNotExist(err) && firstErr == nil {
			firstErr = err
		}
	}
	for _, n := range ids {
		if n <= s.resumed || slices.Contains(s.saved, n) {
			history = append(history, n)
		} else {
			remove(n)
		}
	}
	slices.Sort(history)
	for _, n := range history[:max(0, len(history)-Keep)] {
		remove(n)
	}
	return firstErr
}

// RemoveTemps deletes temporary files a killed process left behind. Call it only while no
// other stream of the run writes to the directory.
func (s *Store) RemoveTemps() error {
	_, temps, err := s.list()
	if os.IsNotExist(err) {
		return nil
	}
	for _, name := range temps {
		if rerr := os.Remove(filepath.Join(s.dir, name)); rerr != nil && !os.IsNotExist(rerr) && err == nil {
			err = rerr
		}
	}
	return err
}
