package agg

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	pb "github.com/modular-runtime/aggregate/gen/pipeline/v1"
)

// event is one event as the tests think of it.
type event struct {
	ts   int64
	v    int32
	typ  string
	user string
	tags []string // sorted "name=value" pairs
}

// encode builds the Events columns of a batch the way the rules stage sends them; extra
// dictionary entries that no event uses are added when `spare` is set.
func encode(evs []event, spare bool) *pb.Events {
	e := &pb.Events{Count: uint32(len(evs))}
	types, users, sets := map[string]uint32{}, map[string]uint32{}, map[string]uint32{}
	if spare {
		e.TypeDict = append(e.TypeDict, []byte("unused-type"))
		types["unused-type"] = 0
		e.UserDict = append(e.UserDict, []byte("unused-user"))
		users["unused-user"] = 0
		e.TagSets = append(e.TagSets, &pb.TagSet{Pairs: [][]byte{[]byte("unused=tag")}})
		sets["unused=tag"] = 0
	}
	idx := func(m map[string]uint32, dict *[][]byte, k string) uint32 {
		i, ok := m[k]
		if !ok {
			i = uint32(len(*dict))
			m[k] = i
			*dict = append(*dict, []byte(k))
		}
		return i
	}
	for _, ev := range evs {
		e.TsSeconds = binary.LittleEndian.AppendUint64(e.TsSeconds, uint64(ev.ts))
		e.Value = binary.LittleEndian.AppendUint32(e.Value, uint32(ev.v))
		e.TypeIndex = binary.LittleEndian.AppendUint32(e.TypeIndex, idx(types, &e.TypeDict, ev.typ))
		e.UserIndex = binary.LittleEndian.AppendUint32(e.UserIndex, idx(users, &e.UserDict, ev.user))
		key := strings.Join(ev.tags, "\x00")
		k, ok := sets[key]
		if !ok {
			k = uint32(len(e.TagSets))
			sets[key] = k
			ts := &pb.TagSet{}
			for _, t := range ev.tags {
				ts.Pairs = append(ts.Pairs, []byte(t))
			}
			e.TagSets = append(e.TagSets, ts)
		}
		e.TagSetIndex = binary.LittleEndian.AppendUint32(e.TagSetIndex, k)
	}
	return e
}

// result is the flattened content of the ResultParts.
type result struct {
	types, users, tags []Group
	windows            []Window
}

// flatten decodes the parts (failing the test on a malformed one) and joins their groups.
func flatten(t testing.TB, parts []*pb.ResultPart) result {
	t.Helper()
	var r result
	for i, p := range parts {
		d, err := DecodePart(p)
		if err != nil {
			t.Fatalf("result part %d: %v", i, err)
		}
		r.types = append(r.types, d.Types...)
		r.users = append(r.users, d.Users...)
		r.tags = append(r.tags, d.Tags...)
		r.windows = append(r.windows, d.Windows...)
	}
	return r
}

// partGroups is the number of groups in one part.
func partGroups(t testing.TB, p *pb.ResultPart) int {
	t.Helper()
	r := flatten(t, []*pb.ResultPart{p})
	return len(r.types) + len(r.users) + len(r.tags) + len(r.windows)
}

// partKeyBytes is the key bytes of one part as the part budget counts them: every group's key,
// and a window's type once per window.
func partKeyBytes(t testing.TB, p *pb.ResultPart) int {
	t.Helper()
	r := flatten(t, []*pb.ResultPart{p})
	n := 0
	for _, f := range [][]Group{r.types, r.users, r.tags} {
		for _, g := range f {
			n += len(g.Key)
		}
	}
	for _, w := range r.windows {
		n += len(w.Type)
	}
	return n
}

// reference folds events the obvious way: one map per family, sorted at the end.
func reference(batches [][]event, windowSeconds int64) result {
	types, users, tags := map[string]*Stats{}, map[string]*Stats{}, map[string]*Stats{}
	type wk struct {
		start int64
		typ   string
	}
	windows := map[wk]*WStats{}
	add := func(m map[string]*Stats, k string, v int64) {
		s := m[k]
		if s == nil {
			s = &Stats{Min: v, Max: v}
			m[k] = s
		}
		s.Count++
		s.Sum += v
		s.Min = min(s.Min, v)
		s.Max = max(s.Max, v)
	}
	for _, b := range batches {
		for _, e := range b {
			v := int64(e.v)
			add(types, e.typ, v)
			add(users, e.user, v)
			for _, t := range e.tags {
				add(tags, t, v)
			}
			// floor(ts / w) × w, computed differently from WindowStart on purpose.
			q := e.ts / windowSeconds
			if q*windowSeconds > e.ts {
				q--
			}
			k := wk{q * windowSeconds, e.typ}
			w := windows[k]
			if w == nil {
				w = &WStats{}
				windows[k] = w
			}
			w.Count++
			w.Sum += v
		}
	}
	sorted := func(m map[string]*Stats) []Group {
		var out []Group
		for k, s := range m {
			out = append(out, Group{k, *s})
		}
		slices.SortFunc(out, func(a, b Group) int { return strings.Compare(a.Key, b.Key) })
		return out
	}
	r := result{types: sorted(types), users: sorted(users), tags: sorted(tags)}
	for k, w := range windows {
		r.windows = append(r.windows, Window{k.start, k.typ, *w, 0})
	}
	slices.SortFunc(r.windows, func(a, b Window) int { return cmpWindow(&a, &b) })
	return r
}

// run folds the batches with an Aggregator and returns the ResultParts it sends.
func run(t testing.TB, batches [][]event, partitions int, windowSeconds int64, maxGroups, maxBytes int) []*pb.ResultPart {
	t.Helper()
	a := New(context.Background(), partitions, windowSeconds)
	for i, b := range batches {
		ev := encode(b, i%2 == 1)
		var j *Job
		if i%3 == 0 { // checked as protobuf decoded it
			c, err := Check(ev)
			if err != nil {
				t.Fatalf("batch %d: %v", i, err)
			}
			if j, err = a.Submit(c); err != nil {
				t.Fatal(err)
			}
		} else { // read from its bytes, as the stage does
			data, err := proto.Marshal(ev)
			if err != nil {
				t.Fatal(err)
			}
			if j, err = a.DecodeSubmit(data); err != nil {
				t.Fatalf("batch %d: %v", i, err)
			}
		}
		if err := j.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
		a.Release(j)
	}
	var parts []*pb.ResultPart
	if _, _, err := a.Results(maxGroups, maxBytes, func(p *pb.ResultPart) error { parts = append(parts, p); return nil }); err != nil {
		t.Fatal(err)
	}
	return parts
}

var tagChoices = [][]string{nil, {"tier=high"}, {"tier=low"}, {"region=eu", "tier=high"}, {"a=1", "b=2", "c=3"}, {"tier=low", "z=\u00e9"}}

// randomBatches makes reproducible events with negative and positive timestamps, repeated
// users, several types and tag sets of zero to three pairs.
func randomBatches(seed uint64, nBatches, perBatch, nUsers int) [][]event {
	r := rand.New(rand.NewPCG(seed, 42))
	types := []string{"click", "view", "buy", "Z", "\u00e9t\u00e9", "a"}
	var out [][]event
	for b := 0; b < nBatches; b++ {
		n := r.IntN(perBatch + 1)
		evs := make([]event, n)
		for i := range evs {
			evs[i] = event{
				ts:   r.Int64N(400_000) - 200_000,
				v:    int32(r.Uint32()),
				typ:  types[r.IntN(len(types))],
				user: fmt.Sprintf("user-%d", r.IntN(nUsers)),
				tags: tagChoices[r.IntN(len(tagChoices))],
			}
		}
		out = append(out, evs)
	}
	return out
}

func equalResults(t *testing.T, what string, got, want result) {
	t.Helper()
	check := func(family string, g, w []Group) {
		if !slices.Equal(g, w) {
			t.Errorf("%s: %s differs: got %d groups, want %d\n got  %v\n want %v", what, family, len(g), len(w), head(g), head(w))
		}
	}
	check("byType", got.types, want.types)
	check("byUser", got.users, want.users)
	check("byTag", got.tags, want.tags)
	if !slices.Equal(got.windows, want.windows) {
		t.Errorf("%s: byWindow differs: got %d, want %d\n got  %v\n want %v", what, len(got.windows), len(want.windows), head(got.windows), head(want.windows))
	}
}

func head[T any](s []T) []T { return s[:min(len(s), 5)] }
