package agg

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"strings"
	"testing"

	pb "github.com/modular-runtime/aggregate/gen/pipeline/v1"
)

func TestWindowStart(t *testing.T) {
	const big = 1<<53 - 1
	cases := []struct{ ts, w, want int64 }{
		{0, 60, 0}, {59, 60, 0}, {60, 60, 60}, {61, 60, 60},
		{-1, 60, -60}, {-59, 60, -60}, {-60, 60, -60}, {-61, 60, -120},
		{1_700_000_000, 3600, 1_699_999_200}, {-86_401, 86_400, -172_800},
		{5, 1, 5}, {-5, 1, -5},
		{1_700_000_000, big, 0}, {-1, big, -big}, {-big, big, -big}, {-big - 1, big, -2 * big},
		{math.MaxInt64, 60, math.MaxInt64 - math.MaxInt64%60},
	}
	for _, c := range cases {
		if got := WindowStart(c.ts, c.w); got != c.want {
			t.Errorf("WindowStart(%d, %d) = %d, want %d", c.ts, c.w, got, c.want)
		}
	}
}

func TestFoldHandChecked(t *testing.T) {
	batches := [][]event{
		{
			{ts: -1, v: 5, typ: "click", user: "bob", tags: []string{"tier=low"}},
			{ts: -60, v: -7, typ: "click", user: "amy", tags: []string{"region=eu", "tier=low"}},
			{ts: -61, v: 100, typ: "buy", user: "bob", tags: []string{"tier=high"}},
		},
		{
			{ts: 0, v: 2147483647, typ: "click", user: "bob", tags: nil},
			{ts: 59, v: -2147483648, typ: "click", user: "amy", tags: []string{"tier=low"}},
			{ts: 60, v: 1, typ: "buy", user: "\u00e9", tags: []string{"tier=low"}},
		},
	}
	want := result{
		types: []Group{
			{"buy", Stats{2, 101, 1, 100}},
			{"click", Stats{4, 5 - 7 + 2147483647 - 2147483648, -2147483648, 2147483647}},
		},
		users: []Group{
			{"amy", Stats{2, -7 - 2147483648, -2147483648, -7}},
			{"bob", Stats{3, 5 + 100 + 2147483647, 5, 2147483647}},
			{"\u00e9", Stats{1, 1, 1, 1}},
		},
		tags: []Group{
			{"region=eu", Stats{1, -7, -7, -7}},
			{"tier=high", Stats{1, 100, 100, 100}},
			{"tier=low", Stats{4, 5 - 7 - 2147483648 + 1, -2147483648, 5}},
		},
		windows: []Window{
			{-120, "buy", WStats{1, 100}, 0},
			{-60, "click", WStats{2, -2}, 0},
			{0, "click", WStats{2, -1}, 0},
			{60, "buy", WStats{1, 1}, 0},
		},
	}
	equalResults(t, "hand-checked", flatten(t, run(t, batches, 1, 60, MaxGroupsPerPart, MaxPartBytes)), want)
	equalResults(t, "reference", reference(batches, 60), want)
	for p := 2; p <= 4; p++ {
		equalResults(t, fmt.Sprintf("partitions=%d", p), flatten(t, run(t, batches, p, 60, MaxGroupsPerPart, MaxPartBytes)), want)
	}
}

func TestPartitionsMatchReference(t *testing.T) {
	for _, ws := range []int64{1, 7, 60, 3600, 1<<53 - 1} {
		batches := randomBatches(uint64(ws), 40, 500, 300)
		want := reference(batches, ws)
		for p := 1; p <= 8; p++ {
			got := flatten(t, run(t, batches, p, ws, MaxGroupsPerPart, MaxPartBytes))
			equalResults(t, fmt.Sprintf("windowSeconds=%d partitions=%d", ws, p), got, want)
		}
	}
}

func TestResultChunkingAndOrder(t *testing.T) {
	// 25,003 users → byUser alone needs three parts; groups of all families share parts.
	var evs []event
	for i := 0; i < 25_003; i++ {
		evs = append(evs, event{ts: int64(i*37) - 500_000, v: int32(i), typ: fmt.Sprintf("t%d", i%3), user: fmt.Sprintf("u%07d", (i*7919)%25_003), tags: []string{"tier=x"}})
	}
	batches := [][]event{evs[:10_000], evs[10_000:20_000], evs[20_000:]}
	want := reference(batches, 60)
	total := len(want.types) + len(want.users) + len(want.tags) + len(want.windows)
	for _, p := range []int{1, 3, 8} {
		parts := run(t, batches, p, 60, MaxGroupsPerPart, MaxPartBytes)
		n := 0
		for i, part := range parts {
			k := partGroups(t, part)
			if k > MaxGroupsPerPart || k == 0 {
				t.Fatalf("partitions=%d: part %d has %d groups", p, i, k)
			}
			if i < len(parts)-1 && k != MaxGroupsPerPart {
				t.Fatalf("partitions=%d: part %d of %d has %d groups, want full parts before the last", p, i, len(parts), k)
			}
			n += k
		}
		if n != total || len(parts) != (total+MaxGroupsPerPart-1)/MaxGroupsPerPart {
			t.Fatalf("partitions=%d: %d groups in %d parts, want %d groups", p, n, len(parts), total)
		}
		equalResults(t, fmt.Sprintf("partitions=%d", p), flatten(t, parts), want)
	}

	// A byte budget splits parts early; order and content stay the same.
	parts := run(t, batches, 2, 60, MaxGroupsPerPart, 1000)
	for i, part := range parts {
		if bytes := partKeyBytes(t, part); bytes > 1000 {
			t.Fatalf("part %d holds %d key bytes", i, bytes)
		}
	}
	equalResults(t, "byte-limited", flatten(t, parts), want)
}

func TestEmptyRun(t *testing.T) {
	parts := run(t, [][]event{{}, nil}, 3, 60, MaxGroupsPerPart, MaxPartBytes)
	if len(parts) != 0 {
		t.Fatalf("empty run sent %d parts", len(parts))
	}
	a := New(context.Background(), 2, 60)
	c, err := Check(nil)
	if err != nil || c.N != 0 {
		t.Fatalf("Check(nil) = %v, %v", c, err)
	}
	j, _ := a.Submit(c)
	_ = j.Wait(context.Background())
	if _, _, err := a.Results(10, 100, func(*pb.ResultPart) error { t.Fatal("part sent"); return nil }); err != nil {
		t.Fatal(err)
	}
}

func TestCheckRejectsMalformed(t *testing.T) {
	good := func() *pb.Events {
		return encode([]event{{ts: 1, v: 2, typ: "a", user: "u", tags: []string{"x=y"}}, {ts: 3, v: 4, typ: "b", user: "w"}}, false)
	}
	if _, err := Check(good()); err != nil {
		t.Fatalf("good batch refused: %v", err)
	}
	cases := []struct {
		name, want string
		mutate     func(e *pb.Events)
	}{
		{"short ts", "ts_seconds has 12 bytes, expected 16", func(e *pb.Events) { e.TsSeconds = e.TsSeconds[:12] }},
		{"long value", "value has 12 bytes, expected 8", func(e *pb.Events) { e.Value = append(e.Value, 0, 0, 0, 0) }},
		{"count too big", "ts_seconds has 16 bytes, expected 24", func(e *pb.Events) { e.Count = 3 }},
		{"type index", "event 1: type_index 7 is outside type_dict (2 entries)", func(e *pb.Events) { binary.LittleEndian.PutUint32(e.TypeIndex[4:], 7) }},
		{"user index", "event 0: user_index 2 is outside user_dict (2 entries)", func(e *pb.Events) { binary.LittleEndian.PutUint32(e.UserIndex, 2) }},
		{"empty user dict", "user_index 1 is outside user_dict (0 entries)", func(e *pb.Events) { e.UserDict = nil }},
		{"tag set index", "tag_set_index 2 is outside tag_sets (2 entries)", func(e *pb.Events) { binary.LittleEndian.PutUint32(e.TagSetIndex[4:], 2) }},
		{"tag_set_index missing", "tag_set_index is missing", func(e *pb.Events) { e.TagSetIndex = nil }},
		{"tag_set_index short", "tag_set_index has 4 bytes, expected 8", func(e *pb.Events) { e.TagSetIndex = e.TagSetIndex[:4] }},
	}
	for _, c := range cases {
		e := good()
		c.mutate(e)
		_, err := Check(e)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error containing %q", c.name, err, c.want)
		}
	}
	// No events: empty columns are fine, whatever the dictionaries hold.
	if _, err := Check(&pb.Events{Count: 0}); err != nil {
		t.Errorf("empty events refused: %v", err)
	}
}

func TestWindowSeconds(t *testing.T) {
	ok := map[string]int64{
		"": 60, "  ": 60, "{}": 60, `{"drop":[]}`: 60, `{"windowSeconds":null}`: 60,
		`{"windowSeconds":1}`: 1, `{"windowSeconds":3600}`: 3600, `{"windowSeconds":60.0}`: 60, `{"windowSeconds":6e1}`: 60,
		`{"windowSeconds":9007199254740991}`:    1<<53 - 1,
		`{"windowSeconds":5,"windowSeconds":7}`: 7,
	}
	for in, want := range ok {
		got, err := WindowSeconds(in)
		if err != nil || got != want {
			t.Errorf("WindowSeconds(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{`[]`, `nope`, `{"windowSeconds":0}`, `{"windowSeconds":-5}`, `{"windowSeconds":1.5}`, `{"windowSeconds":"60"}`, `{"windowSeconds":9007199254740992}`, `{"windowSeconds":1e300}`} {
		if got, err := WindowSeconds(bad); err == nil {
			t.Errorf("WindowSeconds(%q) = %d, want an error", bad, got)
		}
	}
}

func TestMergeRunsCombinesEqualKeys(t *testing.T) {
	runs := [][]Group{
		{{"a", Stats{1, 1, 1, 1}}, {"c", Stats{1, 3, 3, 3}}},
		{},
		{{"a", Stats{2, 10, 4, 6}}, {"b", Stats{1, 2, 2, 2}}, {"c", Stats{1, -3, -3, -3}}},
		{{"d", Stats{1, 4, 4, 4}}},
	}
	var got []Group
	_ = mergeRuns(runs, cmpGroup, func(d, s *Group) { d.merge(s.Stats) }, func(g *Group) error { got = append(got, *g); return nil })
	want := []Group{{"a", Stats{3, 11, 1, 6}}, {"b", Stats{1, 2, 2, 2}}, {"c", Stats{2, 0, -3, 3}}, {"d", Stats{1, 4, 4, 4}}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestCancelledRunStops(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	a := New(ctx, 4, 60)
	cancel()
	if err := a.Close(); err == nil {
		t.Fatal("Close after cancel returned nil")
	}
	if _, _, err := a.Results(10, 10, func(*pb.ResultPart) error { return nil }); err == nil {
		t.Fatal("Results after cancel returned nil")
	}
}
