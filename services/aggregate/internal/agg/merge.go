package agg

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"

	pb "github.com/modular-runtime/aggregate/gen/pipeline/v1"
)

// MaxGroupsPerPart is the most groups one ResultPart carries (PIPELINE.md).
const MaxGroupsPerPart = 10_000

// MaxPartBytes bounds the key bytes of one ResultPart, so a part stays far below the 64 MiB
// message limit even when keys are long (a key can be close to 1 MiB).
const MaxPartBytes = 16 << 20

// Group is one merged byType/byUser/byTag group.
type Group struct {
	Key string
	Stats
}

// Window is one merged byWindow group.
type Window struct {
	Start int64
	Type  string
	WStats
	rank int32 // the type's rank among its partition's types, for sorting within a partition
}

type sortedRuns struct {
	types, users, tags []Group
	windows            []Window
}

func cmpGroup(a, b *Group) int { return strings.Compare(a.Key, b.Key) }

func cmpWindow(a, b *Window) int {
	if c := cmp.Compare(a.Start, b.Start); c != 0 {
		return c
	}
	return strings.Compare(a.Type, b.Type)
}

func sortedGroups(keys []string, stats []Stats) []Group {
	out := make([]Group, 0, len(keys))
	for i, key := range keys {
		if stats[i].Count > 0 { // a dictionary entry may have had no event here
			out = append(out, Group{key, stats[i]})
		}
	}
	slices.SortFunc(out, func(a, b Group) int { return strings.Compare(a.Key, b.Key) })
	return out
}

// countAll is stats with Count 1, so sortedGroups keeps every key.
func countAll(n int) []Stats {
	s := make([]Stats, n)
	for i := range s {
		s[i].Count = 1
	}
	return s
}

// sortRuns turns the partition's state into runs sorted by the §4.4 order; it runs in the
// partition's goroutine, so the partitions sort in parallel.
func (p *partition) sortRuns() *sortedRuns {
	r := &sortedRuns{types: sortedGroups(p.types.keys, p.types.stats), users: sortedGroups(p.users.keys, p.users.stats), tags: sortedGroups(p.tags.keys, p.tags.stats)}
	// Windows sort by start, then by their type's rank: an integer compare, not a string one.
	rank := make([]int32, len(p.types.keys))
	for i, g := range sortedGroups(p.types.keys, countAll(len(p.types.keys))) {
		rank[p.types.slots[g.Key]] = int32(i)
	}
	// Sorted as small keys, then laid out in that order.
	type wkey struct {
		start int64
		rank  int32
		i     int32
	}
	keys := make([]wkey, 0, p.windowCount())
	stats := make([]WStats, 0, cap(keys))
	wtype := make([]int32, 0, cap(keys))
	p.eachWindow(func(q int64, typ int32, w WStats) {
		keys = append(keys, wkey{q * p.window, rank[typ], int32(len(stats))})
		stats = append(stats, w)
		wtype = append(wtype, typ)
	})
	slices.SortFunc(keys, func(a, b wkey) int {
		if a.start != b.start {
			return cmp.Compare(a.start, b.start)
		}
		return cmp.Compare(a.rank, b.rank)
	})
	r.windows = make([]Window, len(keys))
	for j, k := range keys {
		r.windows[j] = Window{k.start, p.types.keys[wtype[k.i]], stats[k.i], k.rank}
	}
	// The state is no longer needed: let it go before the merge allocates the parts.
	*p = partition{id: p.id}
	return r
}

// mergeRuns visits the union of sorted runs in order, combining entries with equal keys. The
// entry visit gets is only valid during the call.
func mergeRuns[T any](runs [][]T, compare func(a, b *T) int, combine func(dst, src *T), visit func(*T) error) error {
	pos := make([]int, len(runs))
	heap := make([]int, 0, len(runs)) // run indexes, ordered by their current head
	less := func(i, j int) bool {
		return compare(&runs[heap[i]][pos[heap[i]]], &runs[heap[j]][pos[heap[j]]]) < 0
	}
	down := func(i int) {
		for {
			l, m := 2*i+1, i
			if l < len(heap) && less(l, m) {
				m = l
			}
			if r := l + 1; r < len(heap) && less(r, m) {
				m = r
			}
			if m == i {
				return
			}
			heap[i], heap[m] = heap[m], heap[i]
			i = m
		}
	}
	for r := range runs {
		if len(runs[r]) > 0 {
			heap = append(heap, r)
		}
	}
	for i := len(heap)/2 - 1; i >= 0; i-- {
		down(i)
	}
	// advance moves the top run to its next entry and restores the heap.
	advance := func() {
		r := heap[0]
		pos[r]++
		if pos[r] == len(runs[r]) {
			heap[0] = heap[len(heap)-1]
			heap = heap[:len(heap)-1]
		}
		if len(heap) > 0 {
			down(0)
		}
	}
	var cur T // one for the whole merge: visit gets a pointer, so a cur per entry would escape
	for len(heap) > 0 {
		r := heap[0]
		cur = runs[r][pos[r]]
		advance()
		for len(heap) > 0 {
			t := heap[0]
			if compare(&runs[t][pos[t]], &cur) != 0 {
				break
			}
			combine(&cur, &runs[t][pos[t]])
			advance()
		}
		if err := visit(&cur); err != nil {
			return err
		}
	}
	return nil
}

// partWriter fills ResultParts of at most maxGroups groups (and about maxBytes key bytes), the
// groups in columns (GroupColumns, WindowColumns). A part's columns of one family are allocated
// once, when its first group of that family comes, with room for the groups the part can still
// take, so adding a group allocates nothing.
type partWriter struct {
	maxGroups, maxBytes int
	send                func(*pb.ResultPart) error
	cur                 *pb.ResultPart
	n, bytes            int
	groups              int
	parts               int
	// The run entries of the family being merged that are not in a part yet: at least the
	// groups still to come (equal keys of several runs make one group).
	left     int
	winTypes map[string]winType
}

// winType is a window type's bytes (made once per run) and its index in the type_dict of the
// part it was last added to.
type winType struct {
	b    []byte
	part int // 1 + the number of parts sent before that part
	idx  uint32
}

func (w *partWriter) room(keyLen int) error {
	if w.cur != nil && (w.n >= w.maxGroups || (w.n > 0 && w.bytes+keyLen > w.maxBytes)) {
		if err := w.flush(); err != nil {
			return err
		}
	}
	if w.cur == nil {
		w.cur = &pb.ResultPart{}
	}
	w.n++
	w.groups++
	w.bytes += keyLen
	return nil
}

// capacity is how many groups of the current family the part can still take, this one included
// (called after room).
func (w *partWriter) capacity() int { return max(1, min(w.maxGroups-w.n+1, w.left)) }

func (w *partWriter) group(field func(*pb.ResultPart) **pb.GroupColumns, g *Group) error {
	if err := w.room(len(g.Key)); err != nil {
		return err
	}
	c := *field(w.cur)
	if c == nil {
		k := w.capacity()
		c = &pb.GroupColumns{
			Keys: make([]byte, 0, min(w.maxBytes, 16*k)), KeyEnd: make([]byte, 0, 4*k),
			Count: make([]byte, 0, 8*k), Sum: make([]byte, 0, 8*k), Min: make([]byte, 0, 8*k), Max: make([]byte, 0, 8*k),
		}
		*field(w.cur) = c
	}
	w.left--
	c.Keys = append(c.Keys, g.Key...)
	if uint64(len(c.Keys)) > math.MaxUint32 {
		return fmt.Errorf("a result part's keys exceed 4 GiB (key_end is uint32): lower the part's byte budget (%d)", w.maxBytes)
	}
	c.KeyEnd = le.AppendUint32(c.KeyEnd, uint32(len(c.Keys)))
	c.Count = le.AppendUint64(c.Count, uint64(g.Count))
	c.Sum = le.AppendUint64(c.Sum, uint64(g.Sum))
	c.Min = le.AppendUint64(c.Min, uint64(g.Min))
	c.Max = le.AppendUint64(c.Max, uint64(g.Max))
	c.Size++
	return nil
}

func (w *partWriter) window(g *Window) error {
	if err := w.room(len(g.Type)); err != nil {
		return err
	}
	c := w.cur.Windows
	if c == nil {
		k := w.capacity()
		c = &pb.WindowColumns{Start: make([]byte, 0, 8*k), TypeIndex: make([]byte, 0, 4*k), Count: make([]byte, 0, 8*k), Sum: make([]byte, 0, 8*k)}
		w.cur.Windows = c
	}
	w.left--
	// type_dict is per part: a type's first window in this part adds it.
	t := w.winTypes[g.Type]
	if t.part != w.parts+1 {
		if t.b == nil {
			t.b = []byte(g.Type)
		}
		t.part, t.idx = w.parts+1, uint32(len(c.TypeDict))
		c.TypeDict = append(c.TypeDict, t.b)
		w.winTypes[g.Type] = t
	}
	c.Start = le.AppendUint64(c.Start, uint64(g.Start))
	c.TypeIndex = le.AppendUint32(c.TypeIndex, t.idx)
	c.Count = le.AppendUint64(c.Count, uint64(g.Count))
	c.Sum = le.AppendUint64(c.Sum, uint64(g.Sum))
	c.Size++
	return nil
}

func (w *partWriter) flush() error {
	if w.cur == nil {
		return nil
	}
	p := w.cur
	w.cur, w.n, w.bytes = nil, 0, 0
	w.parts++
	return w.send(p)
}

// Results merges the partitions' sorted groups (after Close) and sends them in ResultParts of
// at most maxGroups groups (and about maxBytes key bytes, a window counting its type's): byType,
// then byUser, byTag and byWindow, each ascending by key bytes (windows by start, then type
// bytes); a part may hold the end of one family and the start of the next. The groups travel in
// the parts' columns (types, users, tags, windows; nil for a family the part has no group of),
// never in the deprecated row fields. It returns the number of groups and parts sent.
func (a *Aggregator) Results(maxGroups, maxBytes int, send func(*pb.ResultPart) error) (groups, parts int, err error) {
	if err := a.Close(); err != nil {
		return 0, 0, err
	}
	w := &partWriter{maxGroups: max(1, maxGroups), maxBytes: max(1, maxBytes), send: send, winTypes: map[string]winType{}}
	pick := func(f func(*sortedRuns) []Group) [][]Group {
		runs := make([][]Group, 0, len(a.sorted))
		for _, s := range a.sorted {
			if s != nil {
				runs = append(runs, f(s))
			}
		}
		return runs
	}
	combine := func(dst, src *Group) {
		dst.merge(src.Stats)
		w.left--
	}
	families := []struct {
		runs  [][]Group
		field func(*pb.ResultPart) **pb.GroupColumns
	}{
		{pick(func(s *sortedRuns) []Group { return s.types }), func(p *pb.ResultPart) **pb.GroupColumns { return &p.Types }},
		{pick(func(s *sortedRuns) []Group { return s.users }), func(p *pb.ResultPart) **pb.GroupColumns { return &p.Users }},
		{pick(func(s *sortedRuns) []Group { return s.tags }), func(p *pb.ResultPart) **pb.GroupColumns { return &p.Tags }},
	}
	for _, f := range families {
		w.left = 0
		for _, r := range f.runs {
			w.left += len(r)
		}
		err := mergeRuns(f.runs, cmpGroup, combine, func(g *Group) error { return w.group(f.field, g) })
		if err != nil {
			return w.groups, w.parts, err
		}
	}
	wruns := make([][]Window, 0, len(a.sorted))
	w.left = 0
	for _, s := range a.sorted {
		if s != nil {
			wruns = append(wruns, s.windows)
			w.left += len(s.windows)
		}
	}
	err = mergeRuns(wruns, cmpWindow, func(dst, src *Window) { dst.Count += src.Count; dst.Sum += src.Sum; w.left-- }, w.window)
	if err == nil {
		err = w.flush()
	}
	a.sorted = nil
	return w.groups, w.parts, err
}
