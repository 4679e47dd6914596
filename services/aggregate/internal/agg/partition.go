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
// open addressing with linear probing, at most half full.
type userTable struct {
	entries []userEntry
	mask    uint64
	keys    []string
	stats   []Stats
}

type userEntry struct {
	hash uint64
	slot int32 // slot + 1; 0 marks an empty entry
}

func newUserTable() userTable { return userTable{entries: make([]userEntry, 1024), mask: 1023} }

func (t *userTable) slot(h uint64, key []byte) int32 {
	for i := h & t.mask; ; i = (i + 1) & t.mask {
		e := &t.entries[i]
		if e.slot == 0 {
			break
		}
		if e.hash == h && t.keys[e.slot-1] == string(key) {
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
	t.put(userEntry{h, s + 1})
	return s
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
	slot  int32
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
	winSlot winTable
	winKeys []winKey
	winStat []WStats
	cache   []winCache // per type slot: the window last used

	// Per-batch scratch, reused: dictionary index → slot.
	typeMap []int32
	userMap []int32
	own     []int32 // indexes of the batch's events whose user is ours
	tagOff  []int32
	tagSlot []int32
}

// partitionOf picks the partition of a user hash from its high bits (user tables index with
// the low bits, so a partition's table still sees well-spread hashes).
func partitionOf(h, nparts uint64) uint64 { return (h >> 32) * nparts >> 32 }

func newPartition(id uint16, nparts int, windowSeconds int64) *partition {
	return &partition{id: id, nparts: uint64(nparts), window: windowSeconds, types: newKeyed(), users: newUserTable(), tags: newKeyed(), winSlot: newWinTable()}
}

// windowSlot returns the slot of window number q (start q × window) for type slot typ.
func (p *partition) windowSlot(q int64, typ int32) int32 {
	return p.winSlot.get(q, typ, func() int32 {
		s := int32(len(p.winKeys))
		p.winKeys = append(p.winKeys, winKey{q, typ})
		p.winStat = append(p.winStat, WStats{})
		return s
	})
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
	p.tagOff = append(p.tagOff[:0], 0)
	p.tagSlot = p.tagSlot[:0]
	for _, set := range c.TagSets {
		for _, pair := range set.GetPairs() {
			p.tagSlot = append(p.tagSlot, p.tags.slot(pair))
		}
		p.tagOff = append(p.tagOff, int32(len(p.tagSlot)))
	}

	tsCol, valCol := c.TS[:8*n], c.Value[:4*n]
	typeCol, userCol, tagCol := c.TypeIdx[:4*n], c.UserIdx[:4*n], c.TagIdx[:4*n]
	typeMap, userMap, tagOff, tagSlot := p.typeMap, p.userMap, p.tagOff, p.tagSlot

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
	w := p.window
	uw := uint64(w)
	for _, i := range own {
		v := int64(int32(le.Uint32(valCol[4*i:])))
		t := typeMap[le.Uint32(typeCol[4*i:])]
		typeStats[t].add(v)
		userStats[userMap[le.Uint32(userCol[4*i:])]].add(v)
		tg := le.Uint32(tagCol[4*i:])
		for _, s := range tagSlot[tagOff[tg]:tagOff[tg+1]] {
			tagStats[s].add(v)
		}
		ts := int64(le.Uint64(tsCol[8*i:]))
		wc := &cache[t]
		if wc.slot < 0 || ts < wc.start || uint64(ts)-uint64(wc.start) >= uw {
			q := windowNumber(ts, w)
			wc.start, wc.slot = q*w, p.windowSlot(q, t)
		}
		ws := &p.winStat[wc.slot]
		ws.Count++
		ws.Sum += v
	}
}
