// Package agg folds event columns into the §4.4 groups (byType, byUser, byTag, byWindow),
// hash-partitioned by user over goroutines, and merges the partitions into sorted results.
package agg

import (
	"encoding/binary"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"

	pb "github.com/modular-runtime/aggregate/gen/pipeline/v1"
)

var le = binary.LittleEndian

// Columns is a checked view of one batch's events: every column has N entries and every
// index is inside its dictionary, so folding needs no further checks. Decoded from a frame
// (DecodeEvents), every slice points into the frame's bytes: nothing is copied.
type Columns struct {
	N        int
	TS       []byte // int64 LE
	Value    []byte // int32 LE
	TypeIdx  []byte // uint32 LE
	UserIdx  []byte // uint32 LE
	TagIdx   []byte // uint32 LE
	TypeDict [][]byte
	UserDict [][]byte
	// The pairs of every tag set, set after set: tag set k is TagPairs[TagOff[k]:TagOff[k+1]]
	// (len(TagOff) is the number of tag sets + 1, or 0 when there are none).
	TagPairs [][]byte
	TagOff   []int32
}

// TagSets is the number of tag sets.
func (c *Columns) TagSets() int { return max(len(c.TagOff)-1, 0) }

// Check validates the events of a batch and returns a view of them. A nil Events (a batch
// with no payload) is an empty batch. The error text names what is wrong, without the stage
// and batch prefix.
func Check(ev *pb.Events) (Columns, error) {
	if ev == nil {
		return Columns{}, nil
	}
	c := Columns{
		N: int(ev.GetCount()), TS: ev.GetTsSeconds(), Value: ev.GetValue(), TypeIdx: ev.GetTypeIndex(), UserIdx: ev.GetUserIndex(),
		TagIdx: ev.GetTagSetIndex(), TypeDict: ev.GetTypeDict(), UserDict: ev.GetUserDict(),
	}
	for k, ts := range ev.GetTagSets() {
		if ts == nil {
			return Columns{}, fmt.Errorf("tag_sets[%d] is empty", k)
		}
		if k == 0 {
			c.TagOff = append(c.TagOff, 0)
		}
		c.TagPairs = append(c.TagPairs, ts.GetPairs()...)
		c.TagOff = append(c.TagOff, int32(len(c.TagPairs)))
	}
	if err := c.check(); err != nil {
		return Columns{}, err
	}
	return c, nil
}

// Events field numbers (proto/pipeline/v1/pipeline.proto).
const (
	evCount       = 1
	evTS          = 2
	evValue       = 3
	evTypeIndex   = 4
	evTypeDict    = 5
	evUserIndex   = 6
	evUserDict    = 7
	evTagSetIndex = 8
	evTagSets     = 9
)

// DecodeEvents decodes the wire bytes of an Events message into c and checks it like Check.
// The slices of c point into b; c's dictionaries reuse their capacity. Fields are read as
// protobuf does (the last value of a scalar wins, repeated fields append, unknown fields are
// skipped), but a known field with the wrong wire type is an error. The error text names what
// is wrong, without the stage and batch prefix.
func DecodeEvents(b []byte, c *Columns) error {
	*c = Columns{TypeDict: c.TypeDict[:0], UserDict: c.UserDict[:0], TagPairs: c.TagPairs[:0], TagOff: c.TagOff[:0]}
	var count uint64
	for pos := 0; pos < len(b); {
		num, typ, n := protowire.ConsumeTag(b[pos:])
		if n < 0 {
			return fmt.Errorf("events: bad field tag at byte %d: %v", pos, protowire.ParseError(n))
		}
		at := pos
		pos += n
		want := protowire.BytesType
		switch num {
		case evCount:
			want = protowire.VarintType
		case evTS, evValue, evTypeIndex, evTypeDict, evUserIndex, evUserDict, evTagSetIndex, evTagSets:
		default: // unknown: skipped, as protobuf does
			n = protowire.ConsumeFieldValue(num, typ, b[pos:])
			if n < 0 {
				return fmt.Errorf("events: field %d at byte %d: %v", num, at, protowire.ParseError(n))
			}
			pos += n
			continue
		}
		if typ != want {
			return fmt.Errorf("events: field %d at byte %d has wire type %d, expected %d", num, at, typ, want)
		}
		if num == evCount {
			v, n := protowire.ConsumeVarint(b[pos:])
			if n < 0 {
				return fmt.Errorf("events: field count at byte %d: %v", at, protowire.ParseError(n))
			}
			pos += n
			count = v
			continue
		}
		v, n := protowire.ConsumeBytes(b[pos:])
		if n < 0 {
			return fmt.Errorf("events: field %d at byte %d: %v", num, at, protowire.ParseError(n))
		}
		pos += n
		switch num {
		case evTS:
			c.TS = v
		case evValue:
			c.Value = v
		case evTypeIndex:
			c.TypeIdx = v
		case evTypeDict:
			c.TypeDict = append(c.TypeDict, v)
		case evUserIndex:
			c.UserIdx = v
		case evUserDict:
			c.UserDict = append(c.UserDict, v)
		case evTagSetIndex:
			c.TagIdx = v
		case evTagSets:
			if len(c.TagOff) == 0 {
				c.TagOff = append(c.TagOff, 0)
			}
			if err := c.decodeTagSet(v, len(c.TagOff)-1); err != nil {
				return err
			}
			c.TagOff = append(c.TagOff, int32(len(c.TagPairs)))
		}
	}
	c.N = int(uint32(count)) // a uint32 field: protobuf keeps the low 32 bits of the varint
	return c.check()
}

// decodeTagSet appends the pairs of one TagSet message (field 1, repeated bytes).
func (c *Columns) decodeTagSet(b []byte, k int) error {
	for pos := 0; pos < len(b); {
		num, typ, n := protowire.ConsumeTag(b[pos:])
		if n < 0 {
			return fmt.Errorf("events: tag_sets[%d]: bad field tag at byte %d: %v", k, pos, protowire.ParseError(n))
		}
		at := pos
		pos += n
		if num != 1 {
			n = protowire.ConsumeFieldValue(num, typ, b[pos:])
			if n < 0 {
				return fmt.Errorf("events: tag_sets[%d]: field %d at byte %d: %v", k, num, at, protowire.ParseError(n))
			}
			pos += n
			continue
		}
		if typ != protowire.BytesType {
			return fmt.Errorf("events: tag_sets[%d]: field 1 at byte %d has wire type %d, expected %d", k, at, typ, protowire.BytesType)
		}
		v, n := protowire.ConsumeBytes(b[pos:])
		if n < 0 {
			return fmt.Errorf("events: tag_sets[%d]: field 1 at byte %d: %v", k, at, protowire.ParseError(n))
		}
		pos += n
		c.TagPairs = append(c.TagPairs, v)
	}
	return nil
}

// check validates the column lengths and the dictionary indexes.
func (c *Columns) check() error {
	n := c.N
	if n > 0 && len(c.TagIdx) == 0 {
		return fmt.Errorf("tag_set_index is missing (%d events; the rules stage sets it)", n)
	}
	for _, col := range [...]struct {
		name  string
		b     []byte
		width int
	}{{"ts_seconds", c.TS, 8}, {"value", c.Value, 4}, {"type_index", c.TypeIdx, 4}, {"user_index", c.UserIdx, 4}, {"tag_set_index", c.TagIdx, 4}} {
		if len(col.b) != n*col.width {
			return fmt.Errorf("column %s has %d bytes, expected %d (count %d × %d bytes)", col.name, len(col.b), n*col.width, n, col.width)
		}
	}
	if n == 0 {
		return nil
	}
	tv, uv, gv := maxIndexes(c.TypeIdx, c.UserIdx, c.TagIdx, n)
	if tv >= uint32(len(c.TypeDict)) {
		return fmt.Errorf("event %d: type_index %d is outside type_dict (%d entries)", firstOf(c.TypeIdx, tv), tv, len(c.TypeDict))
	}
	if uv >= uint32(len(c.UserDict)) {
		return fmt.Errorf("event %d: user_index %d is outside user_dict (%d entries)", firstOf(c.UserIdx, uv), uv, len(c.UserDict))
	}
	if gv >= uint32(c.TagSets()) {
		return fmt.Errorf("event %d: tag_set_index %d is outside tag_sets (%d entries)", firstOf(c.TagIdx, gv), gv, c.TagSets())
	}
	return nil
}

// maxIndexes returns the largest uint32 of each of three index columns of n entries.
func maxIndexes(a, b, c []byte, n int) (av, bv, cv uint32) {
	a, b, c = a[:4*n], b[:4*n], c[:4*n]
	for i := 0; i < 4*n; i += 4 {
		av = max(av, le.Uint32(a[i:]))
		bv = max(bv, le.Uint32(b[i:]))
		cv = max(cv, le.Uint32(c[i:]))
	}
	return av, bv, cv
}

// firstOf is the first entry of an index column equal to v.
func firstOf(b []byte, v uint32) int {
	for i := 0; i+4 <= len(b); i += 4 {
		if le.Uint32(b[i:]) == v {
			return i / 4
		}
	}
	return 0
}
