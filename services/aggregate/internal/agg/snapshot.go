package agg

// Snapshots of the aggregation state for checkpointed runs (services/PIPELINE.md "Checkpoints
// and recovery"). A snapshot is written at a barrier and read back when a later attempt of the
// run resumes from it; the results after a restore and the remaining batches are identical to
// an uninterrupted run's.
//
// File layout (integers are unsigned LEB128 varints, "svarint" zigzag ones):
//
//	magic "MRAGSNP1"
//	run id (length, bytes) · checkpoint · windowSeconds (svarint) · last trace id · batches · events
//	number of sections, then each section: length, bytes        — one section per partition
//	CRC-32C of everything before it, 4 bytes little-endian
//
// A section is one partition's state, as it holds it (no sorting, no merging, so every
// partition writes its own in parallel):
//
//	types, users, tags: count, then per group: key (length, bytes) · count · [sum (svarint) ·
//	  min (svarint) · max − min] (the figures only when count > 0)
//	windows: count, then per window: window number − previous one (svarint) · the index of its
//	  type among the section's types · count · sum (svarint)
//
// Sections are independent of the partition count and of the per-process hash seed: a restore
// routes every user to its partition by its hash in this process, and puts the types, tags and
// windows of all sections into partition 0. The merge at the end sums count and sum and takes
// min and max, so where a group's figures sit does not change the results.

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"hash/maphash"
	"io"
	"math"
)

const snapshotMagic = "MRAGSNP1"

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// SnapshotMeta is what a snapshot records besides the groups.
type SnapshotMeta struct {
	RunID         string
	Checkpoint    uint64
	WindowSeconds int64  // set by WriteSnapshot from the aggregator
	LastTrace     uint64 // trace id of the last batch folded in (0: none)
	Batches       uint64 // batches folded in, over all attempts of the run
	Events        uint64 // events folded in, over all attempts of the run
}

// Snapshot is a decoded snapshot file whose checksum and header are valid; Restore decodes
// the sections.
type Snapshot struct {
	SnapshotMeta
	sections [][]byte
}

// appendState appends the partition's state as one section. It runs in the partition's
// goroutine, between two batches.
func (p *partition) appendState(b []byte) []byte {
	b = appendGroups(b, p.types.keys, p.types.stats)
	b = appendGroups(b, p.users.keys, p.users.stats)
	b = appendGroups(b, p.tags.keys, p.tags.stats)
	b = binary.AppendUvarint(b, uint64(p.windowCount()))
	var prev int64
	p.eachWindow(func(q int64, typ int32, w WStats) {
		// Windows come in time order (the dense ones, and the others for time-ordered input):
		// the delta is mostly 0 or 1.
		b = binary.AppendVarint(b, int64(uint64(q)-uint64(prev)))
		prev = q
		b = binary.AppendUvarint(b, uint64(typ))
		b = binary.AppendUvarint(b, uint64(w.Count))
		b = binary.AppendVarint(b, w.Sum)
	})
	return b
}

func appendGroups(b []byte, keys []string, stats []Stats) []byte {
	b = binary.AppendUvarint(b, uint64(len(keys)))
	for i, k := range keys {
		b = binary.AppendUvarint(b, uint64(len(k)))
		b = append(b, k...)
		s := &stats[i]
		b = binary.AppendUvarint(b, uint64(s.Count))
		if s.Count > 0 { // a dictionary entry with no event here has no figures
			b = binary.AppendVarint(b, s.Sum)
			b = binary.AppendVarint(b, s.Min)
			b = binary.AppendUvarint(b, uint64(s.Max)-uint64(s.Min))
		}
	}
	return b
}

// WriteSnapshot writes a snapshot job (after its Wait returned) with m to w and returns the
// number of bytes written. m.WindowSeconds is taken from the aggregator.
func (a *Aggregator) WriteSnapshot(w io.Writer, m SnapshotMeta, j *Job) (int64, error) {
	if !j.snapshot {
		return 0, errors.New("not a snapshot job")
	}
	m.WindowSeconds = a.window
	h := make([]byte, 0, 64+len(m.RunID))
	h = append(h, snapshotMagic...)
	h = binary.AppendUvarint(h, uint64(len(m.RunID)))
	h = append(h, m.RunID...)
	h = binary.AppendUvarint(h, m.Checkpoint)
	h = binary.AppendVarint(h, m.WindowSeconds)
	h = binary.AppendUvarint(h, m.LastTrace)
	h = binary.AppendUvarint(h, m.Batches)
	h = binary.AppendUvarint(h, m.Events)
	h = binary.AppendUvarint(h, uint64(len(j.sections)))

	bw := bufio.NewWriterSize(w, 64<<10)
	var n int64
	var crc uint32
	put := func(b []byte) error {
		crc = crc32.Update(crc, castagnoli, b)
		k, err := bw.Write(b)
		n += int64(k)
		return err
	}
	if err := put(h); err != nil {
		return n, err
	}
	var lenBuf [binary.MaxVarintLen64]byte
	for _, s := range j.sections {
		if err := put(binary.AppendUvarint(lenBuf[:0], uint64(len(s)))); err != nil {
			return n, err
		}
		if err := put(s); err != nil {
			return n, err
		}
	}
	k, err := bw.Write(binary.LittleEndian.AppendUint32(lenBuf[:0], crc))
	n += int64(k)
	if err == nil {
		err = bw.Flush()
	}
	return n, err
}

// reader decodes varints and byte strings; the first error sticks.
type reader struct {
	b   []byte
	off int // bytes consumed before b, for error messages
	err error
}

func (r *reader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("%s at byte %d", what, r.off)
	}
	r.b = nil
}

func (r *reader) uvarint(what string) uint64 {
	v, k := binary.Uvarint(r.b)
	if k <= 0 {
		r.fail("bad or truncated " + what)
		return 0
	}
	r.b, r.off = r.b[k:], r.off+k
	return v
}

func (r *reader) varint(what string) int64 {
	v, k := binary.Varint(r.b)
	if k <= 0 {
		r.fail("bad or truncated " + what)
		return 0
	}
	r.b, r.off = r.b[k:], r.off+k
	return v
}

func (r *reader) bytes(what string) []byte {
	n := r.uvarint(what + " length")
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)) {
		r.fail(fmt.Sprintf("%s of %d bytes overruns the data", what, n))
		return nil
	}
	v := r.b[:n:n]
	r.b, r.off = r.b[n:], r.off+int(n)
	return v
}

// count reads a number of entries; each takes at least min bytes, so a count the rest of the
// data cannot hold is refused before anything is allocated for it.
func (r *reader) count(what string, least int) int {
	n := r.uvarint(what)
	if r.err == nil && n > uint64(len(r.b)/least) {
		r.fail(fmt.Sprintf("%d %s do not fit in the remaining %d bytes", n, what, len(r.b)))
		return 0
	}
	return int(n)
}

func (r *reader) stats(what string) Stats {
	c := r.uvarint(what + " count")
	if c == 0 || r.err != nil {
		return newStats()
	}
	if c > math.MaxInt64 {
		r.fail(what + " count out of range")
		return newStats()
	}
	s := Stats{Count: int64(c), Sum: r.varint(what + " sum"), Min: r.varint(what + " min")}
	s.Max = int64(uint64(s.Min) + r.uvarint(what+" max"))
	if s.Max < s.Min {
		r.fail(what + " max below min")
	}
	return s
}

// DecodeSnapshot checks a snapshot file (magic, checksum, header) and returns it; its
// sections are decoded by Restore.
func DecodeSnapshot(data []byte) (*Snapshot, error) {
	if len(data) < len(snapshotMagic)+4 || string(data[:len(snapshotMagic)]) != snapshotMagic {
		return nil, errors.New("not an aggregate snapshot (no MRAGSNP1 header)")
	}
	body := data[:len(data)-4]
	if want, got := binary.LittleEndian.Uint32(data[len(body):]), crc32.Checksum(body, castagnoli); want != got {
		return nil, fmt.Errorf("checksum mismatch (%08x, stored %08x): the file is damaged or truncated", got, want)
	}
	r := &reader{b: body[len(snapshotMagic):], off: len(snapshotMagic)}
	s := &Snapshot{}
	s.RunID = string(r.bytes("run id"))
	s.Checkpoint = r.uvarint("checkpoint")
	s.WindowSeconds = r.varint("windowSeconds")
	s.LastTrace = r.uvarint("last trace id")
	s.Batches = r.uvarint("batch count")
	s.Events = r.uvarint("event count")
	n := r.count("sections", 1)
	for i := 0; i < n && r.err == nil; i++ {
		s.sections = append(s.sections, r.bytes(fmt.Sprintf("section %d", i)))
	}
	if r.err == nil && len(r.b) != 0 {
		r.fail(fmt.Sprintf("%d bytes after the last section", len(r.b)))
	}
	if r.err != nil {
		return nil, r.err
	}
	if s.WindowSeconds < 1 || s.WindowSeconds > maxSafeInteger {
		return nil, fmt.Errorf("windowSeconds %d is out of range", s.WindowSeconds)
	}
	return s, nil
}

// Restore loads a snapshot into a new aggregator, before the first Submit. The snapshot's
// windowSeconds must be the aggregator's. On an error the aggregator holds part of the
// snapshot and must not be used.
func (a *Aggregator) Restore(s *Snapshot) error {
	if a.started {
		return errors.New("restore after the first batch")
	}
	if s.WindowSeconds != a.window {
		return fmt.Errorf("the snapshot has windowSeconds %d, the run %d", s.WindowSeconds, a.window)
	}
	for i, sec := range s.sections {
		if err := a.restoreSection(sec); err != nil {
			return fmt.Errorf("section %d: %v", i, err)
		}
	}
	return nil
}

func (a *Aggregator) restoreSection(sec []byte) error {
	r := &reader{b: sec}
	p0 := a.parts[0]
	nparts := uint64(len(a.parts))
	// Every group takes at least 2 bytes (key length and count), every window 4.
	n := r.count("types", 2)
	typeSlot := make([]int32, 0, n)
	for i := 0; i < n && r.err == nil; i++ {
		key := r.bytes("type key")
		st := r.stats("type")
		if r.err != nil {
			break
		}
		s := p0.types.slot(key)
		p0.types.stats[s].merge(st)
		typeSlot = append(typeSlot, s)
	}
	n = r.count("users", 2)
	for i := 0; i < n && r.err == nil; i++ {
		key := r.bytes("user key")
		st := r.stats("user")
		if r.err != nil {
			break
		}
		h := maphash.Bytes(seed, key)
		p := a.parts[partitionOf(h, nparts)]
		s := p.users.slot(h, key)
		p.users.stats[s].merge(st)
	}
	n = r.count("tags", 2)
	for i := 0; i < n && r.err == nil; i++ {
		key := r.bytes("tag key")
		st := r.stats("tag")
		if r.err != nil {
			break
		}
		s := p0.tags.slot(key)
		p0.tags.stats[s].merge(st)
	}
	n = r.count("windows", 4)
	var q int64
	for i := 0; i < n && r.err == nil; i++ {
		q = int64(uint64(q) + uint64(r.varint("window number")))
		t := r.uvarint("window type")
		c := r.uvarint("window count")
		sum := r.varint("window sum")
		if r.err != nil {
			break
		}
		if t >= uint64(len(typeSlot)) {
			r.fail(fmt.Sprintf("window type %d is not among the %d types", t, len(typeSlot)))
			break
		}
		if c == 0 || c > math.MaxInt64 {
			r.fail(fmt.Sprintf("window count %d out of range", c))
			break
		}
		ws, s := p0.windowAt(q, typeSlot[t])
		if ws == nil {
			ws = &p0.winStat[s]
		}
		ws.Count += int64(c)
		ws.Sum += sum
	}
	if r.err == nil && len(r.b) != 0 {
		r.fail(fmt.Sprintf("%d bytes after the windows", len(r.b)))
	}
	return r.err
}
