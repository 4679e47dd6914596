package agg

import (
	"context"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	pb "github.com/modular-runtime/aggregate/gen/pipeline/v1"
)

// groupColumns encodes groups the obvious way, independently of partWriter.
func groupColumns(gs []Group) *pb.GroupColumns {
	c := &pb.GroupColumns{Size: uint32(len(gs))}
	for _, g := range gs {
		c.Keys = append(c.Keys, g.Key...)
		c.KeyEnd = le.AppendUint32(c.KeyEnd, uint32(len(c.Keys)))
		c.Count = le.AppendUint64(c.Count, uint64(g.Count))
		c.Sum = le.AppendUint64(c.Sum, uint64(g.Sum))
		c.Min = le.AppendUint64(c.Min, uint64(g.Min))
		c.Max = le.AppendUint64(c.Max, uint64(g.Max))
	}
	return c
}

// windowColumns encodes windows the obvious way, with the type_dict given.
func windowColumns(ws []Window, dict []string) *pb.WindowColumns {
	c := &pb.WindowColumns{Size: uint32(len(ws))}
	for _, t := range dict {
		c.TypeDict = append(c.TypeDict, []byte(t))
	}
	for _, w := range ws {
		c.Start = le.AppendUint64(c.Start, uint64(w.Start))
		c.TypeIndex = le.AppendUint32(c.TypeIndex, uint32(slices.Index(dict, w.Type)))
		c.Count = le.AppendUint64(c.Count, uint64(w.Count))
		c.Sum = le.AppendUint64(c.Sum, uint64(w.Sum))
	}
	return c
}

func TestDecodePart(t *testing.T) {
	types := []Group{{"a", Stats{2, -3, math.MinInt64, math.MaxInt64}}, {"\u00e9t\u00e9", Stats{1, 7, 7, 7}}}
	tags := []Group{{"", Stats{1, 0, 0, 0}}, {"tier=x", Stats{3, 1 << 40, -1, 1}}}
	windows := []Window{{Start: -60, Type: "b", WStats: WStats{2, -3}}, {Start: -60, Type: "\u00e9t\u00e9", WStats: WStats{1, 7}}, {Start: 120, Type: "a", WStats: WStats{5, math.MinInt64}}}
	good := func() *pb.ResultPart {
		// type_dict in another order than the windows': its order is free.
		return &pb.ResultPart{Types: groupColumns(types), Tags: groupColumns(tags), Windows: windowColumns(windows, []string{"a", "\u00e9t\u00e9", "b"})}
	}
	got, err := DecodePart(good())
	if err != nil {
		t.Fatalf("good part refused: %v", err)
	}
	want := Part{Types: types, Tags: tags, Windows: windows}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("decoded\n %v\nwant\n %v", got, want)
	}
	if got, err := DecodePart(nil); err != nil || !reflect.DeepEqual(got, Part{}) {
		t.Fatalf("DecodePart(nil) = %v, %v", got, err)
	}
	if got, err := DecodePart(&pb.ResultPart{Users: &pb.GroupColumns{}, Windows: &pb.WindowColumns{}}); err != nil || len(got.Users)+len(got.Windows) != 0 {
		t.Fatalf("empty column messages: %v, %v", got, err)
	}

	u64 := func(v int64) uint64 { return uint64(v) }
	cases := []struct {
		name, want string
		mutate     func(p *pb.ResultPart)
	}{
		{"row by_type", "by_type holds 1 groups: that row form is no longer sent", func(p *pb.ResultPart) { p.ByType = []*pb.Group{{Key: []byte("a"), Count: 1}} }},
		{"row by_user", "by_user holds 1 groups", func(p *pb.ResultPart) { p.ByUser = []*pb.Group{{}} }},
		{"row by_tag", "by_tag holds 2 groups", func(p *pb.ResultPart) { p.ByTag = []*pb.Group{{}, {}} }},
		{"row by_window", "by_window holds 1 groups", func(p *pb.ResultPart) { p.ByWindow = []*pb.WindowGroup{{Start: 60, Type: []byte("a")}} }},
		{"size too big", "types.key_end has 8 bytes, expected 12 (size 3 × 4 bytes)", func(p *pb.ResultPart) { p.Types.Size = 3 }},
		{"size too small", "tags.key_end has 8 bytes, expected 4 (size 1 × 4 bytes)", func(p *pb.ResultPart) { p.Tags.Size = 1 }},
		{"size without columns", "users.key_end has 0 bytes, expected 4 (size 1 × 4 bytes)", func(p *pb.ResultPart) { p.Users = &pb.GroupColumns{Size: 1} }},
		{"short count", "types.count has 12 bytes, expected 16", func(p *pb.ResultPart) { p.Types.Count = p.Types.Count[:12] }},
		{"long sum", "types.sum has 24 bytes, expected 16", func(p *pb.ResultPart) { p.Types.Sum = le.AppendUint64(p.Types.Sum, 1) }},
		{"short min", "tags.min has 8 bytes, expected 16", func(p *pb.ResultPart) { p.Tags.Min = p.Tags.Min[8:] }},
		{"missing max", "tags.max has 0 bytes, expected 16", func(p *pb.ResultPart) { p.Tags.Max = nil }},
		{"key_end decreases", "types.key_end[1] = 0 is before key_end[0] = 1", func(p *pb.ResultPart) { le.PutUint32(p.Types.KeyEnd[4:], 0) }},
		{"key_end beyond keys", "types.key_end[1] = 9 is beyond keys (6 bytes)", func(p *pb.ResultPart) { le.PutUint32(p.Types.KeyEnd[4:], 9) }},
		{"key_end short of keys", "types.keys has 7 bytes, but key_end ends at 6", func(p *pb.ResultPart) { p.Types.Keys = append(p.Types.Keys, 'x') }},
		{"keys without groups", "users.keys has 3 bytes, but key_end ends at 0", func(p *pb.ResultPart) { p.Users = &pb.GroupColumns{Keys: []byte("bob")} }},
		{"key not UTF-8", "types: key 0 (keys[0:2]) is not valid UTF-8", func(p *pb.ResultPart) { le.PutUint32(p.Types.KeyEnd, 2) }},
		{"keys out of order", "users: key 1 is not after key 0 (keys ascend strictly by bytes)", func(p *pb.ResultPart) {
			p.Users = groupColumns([]Group{{"bob", Stats{1, 1, 1, 1}}, {"amy", Stats{1, 1, 1, 1}}})
		}},
		{"key twice", "tags: key 2 is not after key 1", func(p *pb.ResultPart) { p.Tags = groupColumns(append(slices.Clone(tags), tags[1])) }},
		{"short start", "windows.start has 16 bytes, expected 24 (size 3 × 8 bytes)", func(p *pb.ResultPart) { p.Windows.Start = p.Windows.Start[:16] }},
		{"short type_index", "windows.type_index has 8 bytes, expected 12", func(p *pb.ResultPart) { p.Windows.TypeIndex = p.Windows.TypeIndex[4:] }},
		{"long window count", "windows.count has 32 bytes, expected 24", func(p *pb.ResultPart) { p.Windows.Count = le.AppendUint64(p.Windows.Count, 1) }},
		{"missing window sum", "windows.sum has 0 bytes, expected 24", func(p *pb.ResultPart) { p.Windows.Sum = nil }},
		{"window size", "windows.start has 24 bytes, expected 32 (size 4 × 8 bytes)", func(p *pb.ResultPart) { p.Windows.Size = 4 }},
		{"type_index outside", "windows.type_index[2] = 3 is outside type_dict (3 entries)", func(p *pb.ResultPart) { le.PutUint32(p.Windows.TypeIndex[8:], 3) }},
		{"huge type_index", "windows.type_index[0] = 4294967295 is outside type_dict (3 entries)", func(p *pb.ResultPart) { le.PutUint32(p.Windows.TypeIndex, math.MaxUint32) }},
		{"no type_dict", "windows.type_index[0] = 2 is outside type_dict (0 entries)", func(p *pb.ResultPart) { p.Windows.TypeDict = nil }},
		{"type not UTF-8", "windows.type_dict[1] is not valid UTF-8", func(p *pb.ResultPart) { p.Windows.TypeDict[1] = []byte{0xc3} }},
		{"windows out of order", "windows: window 1 is not after window 0 (windows ascend strictly by start, then type bytes)", func(p *pb.ResultPart) {
			le.PutUint32(p.Windows.TypeIndex, 1) // été, then b: not by type bytes
			le.PutUint32(p.Windows.TypeIndex[4:], 2)
		}},
		{"window twice", "windows: window 2 is not after window 1", func(p *pb.ResultPart) {
			le.PutUint64(p.Windows.Start[16:], u64(-60))
			le.PutUint32(p.Windows.TypeIndex[8:], 1)
		}},
		{"start out of order", "windows: window 2 is not after window 1", func(p *pb.ResultPart) { le.PutUint64(p.Windows.Start[16:], u64(-120)) }},
	}
	for _, c := range cases {
		p := good()
		c.mutate(p)
		_, err := DecodePart(p)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error containing %q", c.name, err, c.want)
		}
	}
}

// TestResultsRoundTrip sends the groups through Results and DecodePart: the groups come back
// as folded, split over parts by both limits, the families in order, with a non-ASCII key and
// without a single tag.
func TestResultsRoundTrip(t *testing.T) {
	types := []string{"click", "\u00e9t\u00e9", "Z"}
	var evs []event
	for i := 0; i < 400; i++ {
		user := fmt.Sprintf("u%03d", i%53)
		if i%53 == 7 {
			user = "\u65e5\u672c-\u00fc" // a user key of 3-, 3- and 2-byte characters
		}
		evs = append(evs, event{ts: int64(i*29) - 3000, v: int32(i*7919%2001) - 1000, typ: types[i%3], user: user})
	}
	batches := [][]event{evs[:150], evs[150:151], nil, evs[151:]}
	want := reference(batches, 60)
	if len(want.tags) != 0 || len(want.users) != 53 || len(want.windows) < 50 {
		t.Fatalf("the test data are not what the test needs: %d tags, %d users, %d windows", len(want.tags), len(want.users), len(want.windows))
	}
	total := len(want.types) + len(want.users) + len(want.windows)
	for _, lim := range []struct{ groups, bytes int }{{7, MaxPartBytes}, {MaxGroupsPerPart, 40}, {10, 25}, {1, 1}, {MaxGroupsPerPart, MaxPartBytes}} {
		for _, partitions := range []int{1, 3} {
			what := fmt.Sprintf("at most %d groups and %d bytes, %d partitions", lim.groups, lim.bytes, partitions)
			a := New(context.Background(), partitions, 60)
			fold(t, a, batches, 0, len(batches))
			var parts []*pb.ResultPart
			groups, n, err := a.Results(lim.groups, lim.bytes, func(p *pb.ResultPart) error { parts = append(parts, p); return nil })
			if err != nil {
				t.Fatal(err)
			}
			if groups != total || n != len(parts) {
				t.Errorf("%s: Results reports %d groups in %d parts, sent %d groups in %d parts", what, groups, n, total, len(parts))
			}
			family := 0 // types, users, tags, windows: a part goes on where the previous one stopped
			for i, p := range parts {
				d, err := DecodePart(p)
				if err != nil {
					t.Fatalf("%s: part %d: %v", what, i, err)
				}
				// A family message is present exactly when the part has groups of it.
				sizes := []int{len(d.Types), len(d.Users), len(d.Tags), len(d.Windows)}
				present := []bool{p.Types != nil, p.Users != nil, p.Tags != nil, p.Windows != nil}
				k, keyBytes := 0, partKeyBytes(t, p)
				for f := range sizes {
					if present[f] != (sizes[f] > 0) {
						t.Fatalf("%s: part %d: family %d has %d groups but its message present=%v", what, i, f, sizes[f], present[f])
					}
					if sizes[f] > 0 && f < family {
						t.Fatalf("%s: part %d holds family %d after family %d", what, i, f, family)
					}
					if sizes[f] > 0 {
						family = f
					}
					k += sizes[f]
				}
				if k == 0 || k > lim.groups || (keyBytes > lim.bytes && k > 1) {
					t.Fatalf("%s: part %d has %d groups, %d key bytes", what, i, k, keyBytes)
				}
				// Full parts until the last, unless the byte budget closed the part early.
				if i < len(parts)-1 && k < lim.groups && keyBytes+len(firstKey(t, parts[i+1])) <= lim.bytes {
					t.Fatalf("%s: part %d has %d groups and %d key bytes, but the next group would have fitted", what, i, k, keyBytes)
				}
				// Each type once in a part's type_dict, every entry used.
				if w := p.Windows; w != nil {
					var used []string
					for _, win := range d.Windows {
						if !slices.Contains(used, win.Type) {
							used = append(used, win.Type)
						}
					}
					var dict []string
					for _, b := range w.TypeDict {
						dict = append(dict, string(b))
					}
					slices.Sort(used)
					slices.Sort(dict)
					if !slices.Equal(used, dict) {
						t.Fatalf("%s: part %d: type_dict %q, types used %q", what, i, dict, used)
					}
				}
				if len(p.ByType)+len(p.ByUser)+len(p.ByTag)+len(p.ByWindow) != 0 {
					t.Fatalf("%s: part %d uses the row form", what, i)
				}
			}
			if lim.groups == 7 && !(parts[0].Types != nil && parts[0].Users != nil) {
				t.Errorf("%s: the first part should hold the %d types and the first users", what, len(want.types))
			}
			if lim.groups == 7 && len(parts) != (total+6)/7 {
				t.Errorf("%s: %d parts, want %d", what, len(parts), (total+6)/7)
			}
			equalResults(t, what, flatten(t, parts), want)

			// What the sink receives: the same parts after the wire.
			var wire []*pb.ResultPart
			for _, p := range parts {
				b, err := proto.Marshal(p)
				if err != nil {
					t.Fatal(err)
				}
				q := &pb.ResultPart{}
				if err := proto.Unmarshal(b, q); err != nil {
					t.Fatal(err)
				}
				wire = append(wire, q)
			}
			equalResults(t, what+", after the wire", flatten(t, wire), want)
		}
	}
}

// firstKey is the key (or window type) of a part's first group.
func firstKey(t testing.TB, p *pb.ResultPart) string {
	t.Helper()
	r := flatten(t, []*pb.ResultPart{p})
	for _, f := range [][]Group{r.types, r.users, r.tags} {
		if len(f) > 0 {
			return f[0].Key
		}
	}
	return r.windows[0].Type
}
