// Package agg folds event columns into the §4.4 groups (byType, byUser, byTag, byWindow),
// hash-partitioned by user over goroutines, and merges the partitions into sorted results.
package agg

import (
	"encoding/binary"
	"fmt"

	pb "github.com/modular-runtime/aggregate/gen/pipeline/v1"
)

var le = binary.LittleEndian

// Columns is a checked view of one batch's events: every column has N entries and every
// index is inside its dictionary, so folding needs no further checks.
type Columns struct {
	N        int
	TS       []byte // int64 LE
	Value    []byte // int32 LE
	TypeIdx  []byte // uint32 LE
	UserIdx  []byte // uint32 LE
	TagIdx   []byte // uint32 LE
	TypeDict [][]byte
	UserDict [][]byte
	TagSets  []*pb.TagSet
}

// Check validates the events of a batch and returns a view of them. A nil Events (a batch
// with no payload) is an empty batch. The error text names what is wrong, without the stage
// and batch prefix.
func Check(ev *pb.Events) (Columns, error) {
	if ev == nil {
		return Columns{}, nil
	}
	n := int(ev.GetCount())
	c := Columns{
		N: n, TS: ev.GetTsSeconds(), Value: ev.GetValue(), TypeIdx: ev.GetTypeIndex(), UserIdx: ev.GetUserIndex(),
		TagIdx: ev.GetTagSetIndex(), TypeDict: ev.GetTypeDict(), UserDict: ev.GetUserDict(), TagSets: ev.GetTagSets(),
	}
	if n > 0 && len(c.TagIdx) == 0 {
		return Columns{}, fmt.Errorf("tag_set_index is missing (%d events; the rules stage sets it)", n)
	}
	for _, col := range [...]struct {
		name  string
		b     []byte
		width int
	}{{"ts_seconds", c.TS, 8}, {"value", c.Value, 4}, {"type_index", c.TypeIdx, 4}, {"user_index", c.UserIdx, 4}, {"tag_set_index", c.TagIdx, 4}} {
		if len(col.b) != n*col.width {
			return Columns{}, fmt.Errorf("column %s has %d bytes, expected %d (count %d × %d bytes)", col.name, len(col.b), n*col.width, n, col.width)
		}
	}
	if i, v := maxIndex(c.TypeIdx, n); n > 0 && v >= uint32(len(c.TypeDict)) {
		return Columns{}, fmt.Errorf("event %d: type_index %d is outside type_dict (%d entries)", i, v, len(c.TypeDict))
	}
	if i, v := maxIndex(c.UserIdx, n); n > 0 && v >= uint32(len(c.UserDict)) {
		return Columns{}, fmt.Errorf("event %d: user_index %d is outside user_dict (%d entries)", i, v, len(c.UserDict))
	}
	if i, v := maxIndex(c.TagIdx, n); n > 0 && v >= uint32(len(c.TagSets)) {
		return Columns{}, fmt.Errorf("event %d: tag_set_index %d is outside tag_sets (%d entries)", i, v, len(c.TagSets))
	}
	for k, ts := range c.TagSets {
		if ts == nil {
			return Columns{}, fmt.Errorf("tag_sets[%d] is empty", k)
		}
	}
	return c, nil
}

// maxIndex returns the largest uint32 of a column and the first event holding it.
func maxIndex(b []byte, n int) (int, uint32) {
	b = b[:4*n]
	var m uint32
	for i := 0; i+4 <= len(b); i += 4 {
		if v := le.Uint32(b[i:]); v > m {
			m = v
		}
	}
	if m == 0 {
		return 0, 0
	}
	for i := 0; i+4 <= len(b); i += 4 {
		if le.Uint32(b[i:]) == m {
			return i / 4, m
		}
	}
	return 0, m
}
