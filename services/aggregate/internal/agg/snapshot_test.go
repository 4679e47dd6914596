package agg

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"strings"
	"testing"

	pb "github.com/modular-runtime/aggregate/gen/pipeline/v1"
	"github.com/modular-runtime/aggregate/internal/testwire"
)

// fold submits batches[from:to] (dictionaries with spare entries on odd indexes, as run does)
// and waits for them.
func fold(t testing.TB, a *Aggregator, batches [][]event, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		c, err := Check(encode(batches[i], i%2 == 1))
		if err != nil {
			t.Fatalf("batch %d: %v", i, err)
		}
		j, err := a.Submit(c)
		if err != nil {
			t.Fatal(err)
		}
		if err := j.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
		a.Release(j)
	}
}

// snapshot takes a snapshot of a behind what was submitted and returns the file's bytes.
func snapshot(t testing.TB, a *Aggregator, m SnapshotMeta) []byte {
	t.Helper()
	j, err := a.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	n, err := a.WriteSnapshot(&buf, m, j)
	if err != nil || n != int64(buf.Len()) {
		t.Fatalf("WriteSnapshot = %d, %v (wrote %d bytes)", n, err, buf.Len())
	}
	a.Release(j)
	return buf.Bytes()
}

// restored returns a new aggregator holding the snapshot.
func restored(t testing.TB, data []byte, partitions int, windowSeconds int64) *Aggregator {
	t.Helper()
	s, err := DecodeSnapshot(data)
	if err != nil {
		t.Fatal(err)
	}
	a := New(context.Background(), partitions, windowSeconds)
	if err := a.Restore(s); err != nil {
		t.Fatal(err)
	}
	return a
}

func results(t testing.TB, a *Aggregator) []*pb.ResultPart {
	t.Helper()
	var parts []*pb.ResultPart
	if _, _, err := a.Results(MaxGroupsPerPart, MaxPartBytes, func(p *pb.ResultPart) error { parts = append(parts, p); return nil }); err != nil {
		t.Fatal(err)
	}
	return parts
}

func TestSnapshotRestoreMatchesUninterruptedFold(t *testing.T) {
	for _, ws := range []int64{7, 60} {
		batches := randomBatches(uint64(ws)+100, 30, 400, 300)
		const k = 13 // the barrier comes after batch k
		want := reference(batches, ws)
		for p := 1; p <= 8; p++ {
			what := fmt.Sprintf("windowSeconds=%d partitions=%d", ws, p)
			a := New(context.Background(), p, ws)
			fold(t, a, batches, 0, k)
			j, err := a.Snapshot()
			if err != nil {
				t.Fatal(err)
			}
			// Later batches are submitted before the snapshot is waited for, as the stage
			// does: they must not be in it.
			fold(t, a, batches, k, k+4)
			if err := j.Wait(context.Background()); err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			if _, err := a.WriteSnapshot(&buf, SnapshotMeta{RunID: "r", Checkpoint: 1}, j); err != nil {
				t.Fatal(err)
			}
			a.Release(j)
			data := buf.Bytes()
			fold(t, a, batches, k+4, len(batches))
			uninterrupted := results(t, a)
			equalResults(t, what+": the run that took the snapshot", flatten(t, uninterrupted), want)

			// The snapshot alone is the state after exactly k batches.
			equalResults(t, what+": the snapshot", flatten(t, results(t, restored(t, data, p, ws))), reference(batches[:k], ws))

			// Restored into another partition count, plus the batches after it: the same
			// ResultParts, byte for byte.
			for _, q := range []int{p, 9 - p, 1 + (p*5)%8} {
				b := restored(t, data, q, ws)
				fold(t, b, batches, k, len(batches))
				got := results(t, b)
				equalResults(t, fmt.Sprintf("%s: restored into %d partitions", what, q), flatten(t, got), want)
				if !bytes.Equal(testwire.Parts(t, got), testwire.Parts(t, uninterrupted)) {
					t.Errorf("%s: restored into %d partitions: the ResultParts differ from the uninterrupted run's", what, q)
				}
			}
		}
	}
}

func TestSnapshotChainOverSeveralAttempts(t *testing.T) {
	batches := randomBatches(5, 40, 300, 200)
	want := reference(batches, 60)
	a := New(context.Background(), 2, 60)
	fold(t, a, batches, 0, 10)
	data := snapshot(t, a, SnapshotMeta{RunID: "r", Checkpoint: 1})
	// Each attempt resumes from the last snapshot, folds some batches and snapshots again.
	pos := 10
	for i := range 4 {
		b := restored(t, data, 1+i*2, 60)
		fold(t, b, batches, pos, pos+7)
		pos += 7
		data = snapshot(t, b, SnapshotMeta{RunID: "r", Checkpoint: uint64(i + 2)})
	}
	last := restored(t, data, 3, 60)
	fold(t, last, batches, pos, len(batches))
	equalResults(t, "after five attempts", flatten(t, results(t, last)), want)
}

func TestSnapshotMetaAndEmptyState(t *testing.T) {
	a := New(context.Background(), 3, 3600)
	m := SnapshotMeta{RunID: "run-\u00e9", Checkpoint: 42, LastTrace: 17, Batches: 16, Events: 12345, WindowSeconds: 1}
	data := snapshot(t, a, m)
	s, err := DecodeSnapshot(data)
	if err != nil {
		t.Fatal(err)
	}
	m.WindowSeconds = 3600 // the aggregator's, whatever the caller passed
	if s.SnapshotMeta != m || len(s.sections) != 3 {
		t.Fatalf("meta %+v with %d sections, want %+v with 3", s.SnapshotMeta, len(s.sections), m)
	}
	if parts := results(t, restored(t, data, 2, 3600)); len(parts) != 0 {
		t.Fatalf("an empty snapshot restored %d parts", len(parts))
	}
}

func TestSnapshotDamageIsDetected(t *testing.T) {
	a := New(context.Background(), 2, 60)
	fold(t, a, randomBatches(9, 5, 200, 50), 0, 5)
	good := snapshot(t, a, SnapshotMeta{RunID: "r", Checkpoint: 3})
	if _, err := DecodeSnapshot(good); err != nil {
		t.Fatal(err)
	}
	flip := bytes.Clone(good)
	flip[len(flip)/2] ^= 0x10
	for _, c := range []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "not an aggregate snapshot"},
		{"other file", []byte(`{"runId":"r","checkpoint":"3"}`), "not an aggregate snapshot"},
		{"truncated", good[:len(good)-100], "checksum mismatch"},
		{"flipped bit", flip, "checksum mismatch"},
	} {
		if _, err := DecodeSnapshot(c.data); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error containing %q", c.name, err, c.want)
		}
	}

	// A valid checksum over sections that do not parse: Restore refuses them.
	withSections := func(secs ...[]byte) []byte {
		var b []byte
		b = append(b, snapshotMagic...)
		b = binary.AppendUvarint(b, 1)
		b = append(b, 'r')
		b = binary.AppendUvarint(b, 3)
		b = binary.AppendVarint(b, 60)
		b = append(b, 0, 0, 0)
		b = binary.AppendUvarint(b, uint64(len(secs)))
		for _, s := range secs {
			b = binary.AppendUvarint(b, uint64(len(s)))
			b = append(b, s...)
		}
		return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
	}
	for _, c := range []struct {
		name string
		sec  []byte
		want string
	}{
		{"count beyond the data", []byte{0x7f}, "types do not fit"},
		{"missing families", []byte{0}, "bad or truncated users"},
		{"window of an unknown type", []byte{0, 0, 0, 1, 2, 3, 1, 2}, "window type 3 is not among the 0 types"},
		{"trailing bytes", []byte{0, 0, 0, 0, 9}, "1 bytes after the windows"},
	} {
		s, err := DecodeSnapshot(withSections(c.sec))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		err = New(context.Background(), 2, 60).Restore(s)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error containing %q", c.name, err, c.want)
		}
	}

	// A snapshot of other windows, and one restored too late.
	s, _ := DecodeSnapshot(good)
	if err := New(context.Background(), 1, 3600).Restore(s); err == nil || !strings.Contains(err.Error(), "windowSeconds 60") {
		t.Errorf("window mismatch: got %v", err)
	}
	late := New(context.Background(), 1, 60)
	fold(t, late, randomBatches(1, 1, 10, 5), 0, 1)
	if err := late.Restore(s); err == nil {
		t.Error("Restore after a batch succeeded")
	}
}
