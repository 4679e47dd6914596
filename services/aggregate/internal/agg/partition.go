package agg

import (
	"math"
)

// Stats is one byType/byUser/byTag group's figures.
type Stats struct {
	Count, Sum, Min, Max int64
}

func newStats() Stats { return Stats{Min: math.MaxInt64, Max: math.MinInt64} }

func (s *Stats) add(v int64) {
	s.Count++
	s.Sum += v
	if v < s.Min {
		s.Min = v
	}
	if v > s.Max {
		s.Max = v
	}
}

func (s *Stats) merge(o Stats) {
	s.Count += o.Count
	s.Sum += o.Sum
	s.Min = min(s.Min, o.Min)
	s.Max = max(s.Max, o.Max)
}

// WStats is one byWindow group's figures.
type WStats struct {
	Count, Sum int64
}

// WindowStart is floor(ts / w) × w with floor division (also for negative ts); w > 0.
func WindowStart(ts, w int64) int64 { return windowNumber(ts, w) * w }

// windowNumber is floor(ts / w); w > 0.
func windowNumber(ts, w int64) int64 {
	q := ts / w
	if ts%w != 0 && ts < 0 {
		q--
	}
	return q
}

// fastWindowNumber is windowNumber(ts, w) with invW = 1/float64(w): a multiplication instead
// of a division. For |ts| < 2^50 the product is within 1/4 of ts/w, and ts/w is at least 1/w
// away from an integer unless it is one, so the truncated product is floor(ts/w) or one
// next to it, which the comparisons correct (nothing overflows: |q×w| ≤ 2^50 + 2w).
func fastWindowNumber(ts, w int64, invW float64) int64 {
	if uint64(ts)+1<<50 >= 1<<51 { // |ts| ≥ 2^50
		return windowNumber(ts, w)
	}
	q := int64(float64(ts) * invW)
	if q*w > ts {
		q--
	} else if (q+1)*w <= ts {
		q++
	}
	return q
}

// keyed is a map from group key to slot with the slots' keys and stats kept in slices.
type keyed struct {
	slots map[string]int32
	keys  []string
	stats []Stats
}

func newKeyed() keyed { return keyed{slots: make(map[string]int32)} }

func (k *keyed) slot(key []byte) int32 {
	if s, ok := k.slots[string(key)]; ok { // no allocation for the lookup
		return s
	}
	s := int32(len(k.keys))
	str := string(key)
	k.slots[str] = s
	k.keys = append(k.keys, str)
	k.stats = append(k.stats, newStats())
	return s
}

// userTable maps user keys to slots by the hash the dispatcher computed once per batch:
// open addressing with linear probing, at most half full. An entry holds the key's length
// and first 8 bytes, so a key of up to 8 bytes is compared without reading the key itself.
type userTable struct {
	entries []userEntry
	mask    uint64
	touched uint64 // what touch read, kept so that its loads are not left out
	keys    []string
	stats   []Stats
}

type userEntry struct {
	hash uint64
	head uint64 // the key's first 8 bytes (keyHead)
	slot int32  // slot + 1; 0 marks an empty entry
	n    int32  // the key's length
}

func newUserTable() userTable { return userTable{entries: make([]userEntry, 1024), mask: 1023} }

// keyHead is the first 8 bytes of key as a little-endian number, zero-padded.
func keyHead(key []byte) uint64 {
	if len(key) >= 8 {
		return le.Uint64(key)
	}
	var h uint64
	for i := len(key) - 1; i >= 0; i-- {
		h = h<<8 | uint64(key[i])
	}
	return h
}

func (t *userTable) slot(h uint64, key []byte) int32 {
	head, n := keyHead(key), int32(len(key))
	for i := h & t.mask; ; i = (i + 1) & t.mask {
		e := &t.entries[i]
		if e.slot == 0 {
			break
		}
		if e.hash == h && e.head == head && e.n == n && (n <= 8 || t.keys[e.slot-1][8:] == string(key[8:])) {
			return e.slot - 1
		}
	}
	if 2*(len(t.keys)+1) > len(t.entries) {
		old := t.entries
		t.entries = make([]userEntry, 2*len(old))
		t.mask = uint64(len(t.entries) - 1)
		for _, e := range old {
			if e.slot != 0 {
				t.put(e)
			}
		}
	}
	s := int32(len(t.keys))
	t.keys = append(t.keys, string(key))
	t.stats = append(t.stats, newStats())
	t.put(userEntry{h, head, s + 1, n})
	return s
}

// touch reads the first entry each hash probes, in a loop that waits for none of them: the
// table has mostly left the cache since the last batch, and this way its lines come in
// together rather than one lookup after the other.
func (t *userTable) touch(hashes []uint64) {
	var x uint64
	for _, h := range hashes {
		x += t.entries[h&t.mask].hash
	}
	t.touched = x
}

func (t *userTable) put(e userEntry) {
	i := e.hash & t.mask
	for t.entries[i].slot != 0 {
		i = (i + 1) & t.mask
	}
	t.entries[i] = e
}

type winKey struct {
	q   int64 // window number: the window starts at q × windowSeconds
	typ int32 // the partition's type slot
}

type winCache struct {
	start int64
	dense *WStats // the window's figures in the dense store, or nil: then slot
	slot  int32   // the window's slot in winStat (when dense is nil); -1: no window yet
}

// winTable maps (window number, type slot) to a window slot: open addressing with linear
// probing, at most half full. It is faster than a Go map with a struct key, and with events
// spread over days every event needs a lookup.
type winTable struct {
	entries []winEntry
	shift   uint // 64 − log2(len(entries))
	used    int
}

type winEntry struct {
	q    int64 // window number: start / windowSeconds
	typ  int32
	slot int32 // slot + 1; 0 marks an empty entry
}

func newWinTable() winTable { return winTable{entries: make([]winEntry, 1024), shift: 64 - 10} }

func winHash(q int64, typ int32) uint64 {
	return (uint64(q) ^ uint64(typ)*0xC2B2AE3D27D4EB4F) * 0x9E3779B97F4A7C15
}

// get returns the slot of (q, typ), or calls add for a new slot and stores it.
func (t *winTable) get(q int64, typ int32, add func() int32) int32 {
	mask := uint64(len(t.entries) - 1)
	for i := winHash(q, typ) >> t.shift; ; i = (i + 1) & mask {
		e := &t.entries[i]
		if e.slot == 0 {
			break
		}
		if e.q == q && e.typ == typ {
			return e.slot - 1
		}
	}
	if 2*(t.used+1) > len(t.entries) {
		t.grow()
	}
	s := add()
	t.put(winEntry{q, typ, s + 1})
	t.used++
	return s
}

func (t *winTable) put(e winEntry) {
	mask := uint64(len(t.entries) - 1)
	i := winHash(e.q, e.typ) >> t.shift
	for t.entries[i].slot != 0 {
		i = (i + 1) & mask
	}
	t.entries[i] = e
}

func (t *winTable) grow() {
	old := t.entries
	t.entries = make([]winEntry, 2*len(old))
	t.shift--
	for _, e := range old {
		if e.slot != 0 {
			t.put(e)
		}
	}
}

// partition is one goroutine's share of the state: the events of the users that hash to it.
type partition struct {
	id      uint16
	nparts  uint64
	window  int64
	types   keyed
	users   userTable
	tags    keyed
	winSlot winTable // windows outside the dense store
	winKeys []winKey
	winStat []WStats
	cache   []winCache // per type slot: the window last used
	invW    float64    // 1 / window
	// The dense store of windows: dense[type slot][q − denseBase] holds the figures of window
	// number q (Count 0: no such window; every window has an event) for the first
	// maxDenseTypes type slots and the denseSpan window numbers around the first one seen
	// (denseBase is set then). Events spread over days find their window with one access to
	// an array instead of probing winSlot and then reading winStat. Other windows are in
	// winSlot, winKeys and winStat.
	dense     [][]WStats
	denseBase int64
	denseSet  bool

	// Per-batch scratch, reused: dictionary index → slot.
	typeMap  []int32
	userMap  []int32
	own      []int32   // indexes of the batch's events whose user is ours
	winOf    []*WStats // per own event: its window's figures (fold's second pass)
	noWindow WStats    // where the second pass adds the events whose window the first did
	tagSlot  []int32   // Columns.TagPairs → slot
}

// partitionOf picks the partition of a user hash from its high bits (user tables index with
// the low bits, so a partition's table still sees well-spread hashes).
func partitionOf(h, nparts uint64) uint64 { return (h >> 32) * nparts >> 32 }

func newPartition(id uint16, nparts int, windowSeconds int64) *partition {
	return &partition{id: id, nparts: uint64(nparts), window: windowSeconds, invW: 1 / float64(windowSeconds),
		types: newKeyed(), users: newUserTable(), tags: newKeyed(), winSlot: newWinTable()}
}

// denseSpan is the number of window numbers the dense store covers (22.7 days of minutes),
// maxDenseTypes the number of type slots it covers: at most 32 × 512 KiB per partition, of
// which only the pages of windows that occur are touched.
const (
	denseSpan     = 1 << 15
	maxDenseTypes = 32
)

// windowAt returns where the figures of window number q (start q × window) for type slot typ
// are: in the dense store, or (dense nil) at slot in winStat. The window is created if it is
// new; the caller adds an event or restored figures to it.
func (p *partition) windowAt(q int64, typ int32) (dense *WStats, slot int32) {
	if !p.denseSet {
		p.denseSet, p.denseBase = true, int64(uint64(q)-denseSpan/2)
	}
	// uint64 arithmetic: i is q − denseBase modulo 2^64, a one-to-one map of q.
	if i := uint64(q) - uint64(p.denseBase); i < denseSpan && typ < maxDenseTypes {
		for len(p.dense) <= int(typ) {
			p.dense = append(p.dense, nil)
		}
		if p.dense[typ] == nil {
			p.dense[typ] = make([]WStats, denseSpan)
		}
		return &p.dense[typ][i], -1
	}
	return nil, p.winSlot.get(q, typ, func() int32 { return p.newWindow(q, typ) })
}

// windowCount is the number of windows.
func (p *partition) windowCount() int {
	n := len(p.winKeys)
	for _, d := range p.dense {
		for i := range d {
			if d[i].Count != 0 {
				n++
			}
		}
	}
	return n
}

// eachWindow calls f for every window: the dense ones by window number, then the others in
// the order they were added.
func (p *partition) eachWindow(f func(q int64, typ int32, w WStats)) {
	if len(p.dense) > 0 {
		for i := range uint64(denseSpan) {
			q := int64(uint64(p.denseBase) + i)
			for t, d := range p.dense {
				if d != nil && d[i].Count != 0 {
					f(q, int32(t), d[i])
				}
			}
		}
	}
	for i, k := range p.winKeys {
		f(k.q, k.typ, p.winStat[i])
	}
}

func (p *partition) newWindow(q int64, typ int32) int32 {
	s := int32(len(p.winKeys))
	p.winKeys = append(p.winKeys, winKey{q, typ})
	p.winStat = append(p.winStat, WStats{})
	return s
}

// fold adds the events of c whose user belongs to this partition; userHash holds the hash of
// every user_dict entry. Dictionary entries are mapped to slots once per batch, not per event.
func (p *partition) fold(c *Columns, userHash []uint64) {
	n := c.N
	if n == 0 {
		return
	}
	// Map the dictionaries to this partition's slots.
	p.userMap = p.userMap[:0]
	mine := 0
	p.users.touch(userHash)
	for i, u := range c.UserDict {
		h := userHash[i]
		if partitionOf(h, p.nparts) != uint64(p.id) {
			p.userMap = append(p.userMap, -1)
			continue
		}
		p.userMap = append(p.userMap, p.users.slot(h, u))
		mine++
	}
	if mine == 0 {
		return
	}
	p.typeMap = p.typeMap[:0]
	for _, t := range c.TypeDict {
		p.typeMap = append(p.typeMap, p.types.slot(t))
	}
	for len(p.cache) < len(p.types.keys) {
		p.cache = append(p.cache, winCache{slot: -1})
	}
	p.tagSlot = p.tagSlot[:0]
	for _, pair := range c.TagPairs {
		p.tagSlot = append(p.tagSlot, p.tags.slot(pair))
	}

	tsCol, valCol := c.TS[:8*n], c.Value[:4*n]
	typeCol, userCol, tagCol := c.TypeIdx[:4*n], c.UserIdx[:4*n], c.TagIdx[:4*n]
	typeMap, userMap, tagOff, tagSlot := p.typeMap, p.userMap, c.TagOff, p.tagSlot

	// This partition's events, gathered without a branch per event (with several partitions
	// the test "is this user ours" is a coin flip a branch predictor cannot learn).
	if cap(p.own) < n {
		p.own = make([]int32, n)
	}
	own := p.own[:n]
	k := 0
	if mine == len(userMap) {
		for i := range own {
			own[i] = int32(i)
		}
		k = n
	} else {
		for i := 0; i < n; i++ {
			own[k] = int32(i)
			k += int(uint32(userMap[le.Uint32(userCol[4*i:])])>>31) ^ 1
		}
	}
	own = own[:k]

	typeStats, userStats, tagStats := p.types.stats, p.users.stats, p.tags.stats
	cache := p.cache
	w, invW := p.window, p.invW
	uw := uint64(w)
	// Two passes. The first finds each event's window (and folds the few type and tag
	// groups); the second adds each event to its window and its user. Those are spread over
	// a megabyte or more that the cache has mostly lost since the last batch: in a short loop
	// with nothing else to wait for, the processor fetches many of them at once.
	if cap(p.winOf) < len(own) {
		p.winOf = make([]*WStats, len(own))
	}
	winOf := p.winOf[:len(own)]
	for k, i := range own {
		v := int64(int32(le.Uint32(valCol[4*i:])))
		t := typeMap[le.Uint32(typeCol[4*i:])]
		typeStats[t].add(v)
		tg := le.Uint32(tagCol[4*i:])
		for _, s := range tagSlot[tagOff[tg]:tagOff[tg+1]] {
			tagStats[s].add(v)
		}
		ts := int64(le.Uint64(tsCol[8*i:]))
		wc := &cache[t]
		if (wc.dense == nil && wc.slot < 0) || ts < wc.start || uint64(ts)-uint64(wc.start) >= uw {
			q := fastWindowNumber(ts, w, invW)
			wc.start = q * w
			// The dense store inline; windowAt for the rest (and to start the store).
			if d := uint64(q) - uint64(p.denseBase); d < denseSpan && int(t) < len(p.dense) && p.dense[t] != nil {
				wc.dense = &p.dense[t][d]
			} else {
				wc.dense, wc.slot = p.windowAt(q, t)
			}
		}
		if ws := wc.dense; ws != nil {
			winOf[k] = ws
		} else { // winStat may still grow in this pass: added now, and the second pass
			// adds to a scratch entry instead
			ws := &p.winStat[wc.slot]
			ws.Count++
			ws.Sum += v
			winOf[k] = &p.noWindow
		}
	}
	for k, i := range own {
		v := int64(int32(le.Uint32(valCol[4*i:])))
		userStats[userMap[le.Uint32(userCol[4*i:])]].add(v)
		ws := winOf[k]
		ws.Count++
		ws.Sum += v
	}
}
