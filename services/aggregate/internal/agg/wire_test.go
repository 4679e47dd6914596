package agg

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	pb "github.com/modular-runtime/aggregate/gen/pipeline/v1"
)

// sameColumns compares two views field by field (bytes, not slice identity).
func sameColumns(t *testing.T, what string, got, want Columns) {
	t.Helper()
	eq := func(a, b [][]byte) bool { return slices.EqualFunc(a, b, bytes.Equal) }
	if got.N != want.N || !bytes.Equal(got.TS, want.TS) || !bytes.Equal(got.Value, want.Value) ||
		!bytes.Equal(got.TypeIdx, want.TypeIdx) || !bytes.Equal(got.UserIdx, want.UserIdx) || !bytes.Equal(got.TagIdx, want.TagIdx) ||
		!eq(got.TypeDict, want.TypeDict) || !eq(got.UserDict, want.UserDict) || !eq(got.TagPairs, want.TagPairs) || !slices.Equal(got.TagOff, want.TagOff) {
		t.Errorf("%s: decoded columns differ\n got  %+v\n want %+v", what, got, want)
	}
}

func TestDecodeEventsMatchesProtobuf(t *testing.T) {
	var c Columns // reused, as a job reuses its columns
	for i, b := range randomBatches(11, 30, 200, 50) {
		ev := encode(b, i%2 == 1)
		data, err := proto.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		want, err := Check(ev)
		if err != nil {
			t.Fatal(err)
		}
		if err := DecodeEvents(data, &c); err != nil {
			t.Fatalf("batch %d: %v", i, err)
		}
		sameColumns(t, fmt.Sprintf("batch %d", i), c, want)
		// Unknown fields (every wire type, a group too) are skipped; a scalar given twice
		// counts with its last value; repeated fields append across occurrences.
		extra := protowire.AppendTag(nil, 99, protowire.VarintType)
		extra = protowire.AppendVarint(extra, 12345)
		extra = protowire.AppendTag(extra, 100, protowire.BytesType)
		extra = protowire.AppendBytes(extra, []byte("ignored"))
		extra = protowire.AppendTag(extra, 101, protowire.Fixed32Type)
		extra = protowire.AppendFixed32(extra, 7)
		extra = protowire.AppendTag(extra, 102, protowire.Fixed64Type)
		extra = protowire.AppendFixed64(extra, 7)
		extra = protowire.AppendTag(extra, 103, protowire.StartGroupType)
		extra = protowire.AppendTag(extra, 1, protowire.VarintType)
		extra = protowire.AppendVarint(extra, 1)
		extra = protowire.AppendTag(extra, 103, protowire.EndGroupType)
		split := proto.Clone(ev).(*pb.Events)
		half := len(split.UserDict) / 2
		rest := &pb.Events{UserDict: split.UserDict[half:], Count: split.Count, TsSeconds: split.TsSeconds}
		split.UserDict = split.UserDict[:half]
		split.Count, split.TsSeconds = 99, []byte("stale") // overridden by the later fields
		first, _ := proto.Marshal(split)
		second, _ := proto.Marshal(rest)
		joined := append(append(append([]byte{}, extra...), first...), second...)
		var pbJoined pb.Events
		if err := proto.Unmarshal(joined, &pbJoined); err != nil {
			t.Fatal(err)
		}
		want2, err := Check(&pbJoined)
		if err != nil {
			t.Fatalf("batch %d, joined: %v", i, err)
		}
		if err := DecodeEvents(joined, &c); err != nil {
			t.Fatalf("batch %d, joined: %v", i, err)
		}
		sameColumns(t, fmt.Sprintf("batch %d, joined", i), c, want2)
	}
	// A count above 32 bits keeps its low 32 bits, as protobuf reads a uint32.
	data := protowire.AppendTag(nil, 1, protowire.VarintType)
	data = protowire.AppendVarint(data, 1<<32)
	if err := DecodeEvents(data, &c); err != nil || c.N != 0 {
		t.Errorf("count 2^32: N %d, %v", c.N, err)
	}
}

func TestDecodeEventsRejectsMalformed(t *testing.T) {
	good := encode([]event{{ts: 1, v: 2, typ: "a", user: "u", tags: []string{"x=y"}}, {ts: 3, v: 4, typ: "b", user: "w"}}, false)
	goodBytes, _ := proto.Marshal(good)
	var c Columns
	if err := DecodeEvents(goodBytes, &c); err != nil {
		t.Fatalf("good batch refused: %v", err)
	}
	tag := func(b []byte, num protowire.Number, typ protowire.Type) []byte {
		return protowire.AppendTag(b, num, typ)
	}
	mutated := func(f func(e *pb.Events)) []byte {
		e := proto.Clone(good).(*pb.Events)
		f(e)
		b, _ := proto.Marshal(e)
		return b
	}
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"truncated count varint", append(tag(nil, 1, protowire.VarintType), 0x80, 0x80), "events: field count at byte 0: unexpected EOF"},
		{"overlong varint", append(tag(nil, 1, protowire.VarintType), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01), "events: field count at byte 0: |variable length integer overflow"},
		{"truncated tag", append(slices.Clone(goodBytes), 0x80), fmt.Sprintf("events: bad field tag at byte %d: unexpected EOF", len(goodBytes))},
		{"field number 0", append(slices.Clone(goodBytes), 0x02, 0x00), fmt.Sprintf("events: bad field tag at byte %d: |invalid field number", len(goodBytes))},
		{"truncated column", append(tag(nil, 2, protowire.BytesType), 16, 1, 2, 3), "events: field 2 at byte 0: unexpected EOF"},
		{"truncated dictionary entry", append(slices.Clone(goodBytes), append(tag(nil, 7, protowire.BytesType), 5, 'a')...), fmt.Sprintf("events: field 7 at byte %d: unexpected EOF", len(goodBytes))},
		{"truncated unknown field", append(tag(nil, 50, protowire.Fixed64Type), 1, 2), "events: field 50 at byte 0: unexpected EOF"},
		{"count as bytes", protowire.AppendBytes(tag(nil, 1, protowire.BytesType), []byte{2}), "events: field 1 at byte 0 has wire type 2, expected 0"},
		{"ts_seconds as varint", protowire.AppendVarint(tag(nil, 2, protowire.VarintType), 5), "events: field 2 at byte 0 has wire type 0, expected 2"},
		{"user_dict as fixed32", protowire.AppendFixed32(tag(nil, 7, protowire.Fixed32Type), 5), "events: field 7 at byte 0 has wire type 5, expected 2"},
		{"tag set as varint", protowire.AppendVarint(tag(nil, 9, protowire.VarintType), 1), "events: field 9 at byte 0 has wire type 0, expected 2"},
		{"tag pair as varint", protowire.AppendBytes(tag(nil, 9, protowire.BytesType), protowire.AppendVarint(tag(nil, 1, protowire.VarintType), 3)), "events: tag_sets[0]: field 1 at byte 0 has wire type 0, expected 2"},
		{"truncated tag pair", protowire.AppendBytes(tag(nil, 9, protowire.BytesType), append(tag(nil, 1, protowire.BytesType), 9, 'x')), "events: tag_sets[0]: field 1 at byte 0: unexpected EOF"},
		{"short ts", mutated(func(e *pb.Events) { e.TsSeconds = e.TsSeconds[:12] }), "column ts_seconds has 12 bytes, expected 16 (count 2 × 8 bytes)"},
		{"count too big", mutated(func(e *pb.Events) { e.Count = 3 }), "column ts_seconds has 16 bytes, expected 24"},
		{"long value", mutated(func(e *pb.Events) { e.Value = append(e.Value, 0, 0, 0, 0) }), "column value has 12 bytes, expected 8"},
		{"type index", mutated(func(e *pb.Events) { binary.LittleEndian.PutUint32(e.TypeIndex[4:], 7) }), "event 1: type_index 7 is outside type_dict (2 entries)"},
		{"user index", mutated(func(e *pb.Events) { binary.LittleEndian.PutUint32(e.UserIndex, 2) }), "event 0: user_index 2 is outside user_dict (2 entries)"},
		{"huge user index", mutated(func(e *pb.Events) { binary.LittleEndian.PutUint32(e.UserIndex[4:], math.MaxUint32) }), "event 1: user_index 4294967295 is outside user_dict (2 entries)"},
		{"no dictionaries", mutated(func(e *pb.Events) { e.UserDict, e.TypeDict = nil, nil }), "event 1: type_index 1 is outside type_dict (0 entries)"},
		{"tag set index", mutated(func(e *pb.Events) { binary.LittleEndian.PutUint32(e.TagSetIndex[4:], 2) }), "event 1: tag_set_index 2 is outside tag_sets (2 entries)"},
		{"no tag sets", mutated(func(e *pb.Events) { e.TagSets = nil }), "event 1: tag_set_index 1 is outside tag_sets (0 entries)"},
		{"tag_set_index missing", mutated(func(e *pb.Events) { e.TagSetIndex = nil }), "tag_set_index is missing (2 events"},
	}
	for _, tc := range cases {
		// want: the start of the message, then "|" and text that follows (protobuf's own
		// error texts vary in their prefix on purpose).
		err := DecodeEvents(tc.data, &c)
		start, rest, _ := strings.Cut(tc.want, "|")
		if err == nil || !strings.HasPrefix(err.Error(), start) || !strings.Contains(err.Error()[len(start):], rest) {
			t.Errorf("%s: got %v, want an error starting with %q", tc.name, err, tc.want)
		}
	}
	// The aggregator refuses them the same way and goes on with the next batch.
	a := New(context.Background(), 2, 60)
	if j, err := a.DecodeSubmit(cases[0].data); err == nil || j != nil {
		t.Fatalf("DecodeSubmit of a malformed batch: %v, %v", j, err)
	}
	j, err := a.DecodeSubmit(goodBytes)
	if err != nil {
		t.Fatal(err)
	}
	_ = j.Wait(context.Background())
	var parts []*pb.ResultPart
	if _, _, err := a.Results(MaxGroupsPerPart, MaxPartBytes, func(p *pb.ResultPart) error { parts = append(parts, p); return nil }); err != nil {
		t.Fatal(err)
	}
	if got := flatten(t, parts); len(got.types) != 2 || got.types[0].Count != 1 {
		t.Fatalf("after a refused batch: %+v", got)
	}
}

func TestFastWindowNumber(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	ws := []int64{1, 2, 3, 7, 60, 61, 3600, 86_400, 86_401, 1_000_003, 1 << 31, 1<<53 - 1}
	tss := []int64{0, 1, -1, 59, 60, 61, -59, -60, -61, 1 << 49, -(1 << 49), 1<<50 - 1, -(1<<50 - 1), 1 << 50, -(1 << 50),
		math.MaxInt64, math.MinInt64, math.MaxInt64 - 1, math.MinInt64 + 1, 1_767_225_600, -62_135_596_800, 253_402_300_799}
	for _, w := range ws {
		check := func(ts int64) {
			if got, want := fastWindowNumber(ts, w, 1/float64(w)), windowNumber(ts, w); got != want {
				t.Fatalf("fastWindowNumber(%d, %d) = %d, want %d", ts, w, got, want)
			}
		}
		for _, ts := range tss {
			for d := int64(-2); d <= 2; d++ {
				check(ts + d)
				check(ts/w*w + d) // around multiples of w
			}
		}
		for i := 0; i < 100_000; i++ {
			check(r.Int64N(1<<51) - 1<<50)
			check(r.Int64N(4_000_000_000) - 2_000_000_000)
			k := r.Int64N(1<<50) / w
			check(k*w - 1)
			check(k*w + w - 1)
			check(-k*w - 1)
		}
	}
}

// Events spread far beyond the dense store's span, over more types than it covers, with
// negative times, and windows of one second: every path of the window lookup.
func TestWindowsOutsideTheDenseStore(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	var batches [][]event
	for b := 0; b < 12; b++ {
		evs := make([]event, 400)
		for i := range evs {
			ts := r.Int64N(40_000) - 20_000 // inside the span of the first window seen, mostly
			switch r.IntN(4) {
			case 0:
				ts = r.Int64N(1<<40) - 1<<39 // far outside
			case 1:
				ts = int64(b)*denseSpan + r.Int64N(100) // moving out of the span batch by batch
			}
			evs[i] = event{ts: ts, v: int32(r.Uint32()), typ: fmt.Sprintf("t%d", r.IntN(maxDenseTypes+8)), user: fmt.Sprintf("u%d", r.IntN(30)), tags: tagChoices[r.IntN(len(tagChoices))]}
		}
		batches = append(batches, evs)
	}
	for _, w := range []int64{1, 60} {
		want := reference(batches, w)
		for _, p := range []int{1, 3} {
			got := flatten(t, run(t, batches, p, w, 1000, MaxPartBytes))
			equalResults(t, fmt.Sprintf("window %d, %d partitions", w, p), got, want)
		}
	}
}

// The same events through a snapshot: windows move between the dense store and the table
// (the restoring partition's store starts at another window), the results stay the same.
func TestWindowsOutsideTheDenseStoreSurviveASnapshot(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	var batches [][]event
	for b := 0; b < 10; b++ {
		evs := make([]event, 300)
		for i := range evs {
			ts := int64(b-5)*denseSpan*60/2 + r.Int64N(600_000)
			if r.IntN(5) == 0 {
				ts = r.Int64N(1<<42) - 1<<41
			}
			evs[i] = event{ts: ts, v: int32(r.Uint32()), typ: fmt.Sprintf("t%d", r.IntN(maxDenseTypes+4)), user: fmt.Sprintf("u%d", r.IntN(40)), tags: tagChoices[r.IntN(len(tagChoices))]}
		}
		batches = append(batches, evs)
	}
	want := reference(batches, 60)
	for _, p := range []int{1, 2} {
		a := New(context.Background(), p, 60)
		fold(t, a, batches, 0, 5)
		data := snapshot(t, a, SnapshotMeta{RunID: "r", Checkpoint: 1})
		equalResults(t, "the snapshot", flatten(t, results(t, restored(t, data, 2, 60))), reference(batches[:5], 60))
		b := restored(t, data, 3-p, 60)
		fold(t, b, batches, 5, len(batches))
		equalResults(t, fmt.Sprintf("restored from %d partitions", p), flatten(t, results(t, b)), want)
	}
}

func TestUserTableTellsKeysApart(t *testing.T) {
	keys := []string{"", "a", "a\x00", "a\x00\x00", "abcdefgh", "abcdefgh\x00", "abcdefghi", "abcdefghj", "abcdefgh-long-1", "abcdefgh-long-2",
		"user-000001", "user-000002", "\x00", "\x00\x00\x00\x00\x00\x00\x00\x00", "\u00e9t\u00e9"}
	for _, sameHash := range []bool{false, true} {
		tbl := newUserTable()
		hash := func(k string) uint64 {
			if sameHash { // every key collides: only the keys tell them apart
				return 12345
			}
			return maphash.String(seed, k)
		}
		for round := 0; round < 2; round++ { // the second round finds the first round's slots
			for i, k := range keys {
				if s := tbl.slot(hash(k), []byte(k)); s != int32(i) {
					t.Fatalf("sameHash=%v round %d: %q got slot %d, want %d", sameHash, round, k, s, i)
				}
			}
		}
		// Growing the table keeps every key.
		for i := 0; i < 3000; i++ {
			tbl.slot(hash(fmt.Sprint("k", i)), []byte(fmt.Sprint("k", i)))
			if sameHash && i == 200 {
				break
			}
		}
		for i, k := range keys {
			if s := tbl.slot(hash(k), []byte(k)); s != int32(i) || tbl.keys[s] != k {
				t.Fatalf("sameHash=%v after growing: %q got slot %d, want %d", sameHash, k, s, i)
			}
		}
	}
}
