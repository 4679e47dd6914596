package agg

import (
	"fmt"
	"unicode/utf8"

	pb "github.com/modular-runtime/aggregate/gen/pipeline/v1"
)

// Part is the groups of one ResultPart, each family in its order.
type Part struct {
	Types, Users, Tags []Group
	Windows            []Window
}

// DecodePart reads the columns of a ResultPart back into groups, as the sink does, and checks
// them against the contract of proto/pipeline/v1/pipeline.proto: the deprecated row fields are
// empty; every column holds `size` entries; key_end never decreases and ends exactly at the end
// of keys; every type_index is inside type_dict; keys and types are UTF-8; within the part each
// family strictly ascends (keys by bytes, windows by start, then type bytes). A family whose
// message is absent has no groups. The error names the bad field, e.g. "users.key_end[2] = 9 is
// beyond keys (7 bytes)". A nil part is empty.
func DecodePart(p *pb.ResultPart) (Part, error) {
	for _, row := range [...]struct {
		name string
		n    int
	}{{"by_type", len(p.GetByType())}, {"by_user", len(p.GetByUser())}, {"by_tag", len(p.GetByTag())}, {"by_window", len(p.GetByWindow())}} {
		if row.n > 0 {
			return Part{}, fmt.Errorf("%s holds %d groups: that row form is no longer sent, the groups belong in the columns (types, users, tags, windows)", row.name, row.n)
		}
	}
	var out Part
	var err error
	if out.Types, err = decodeGroups("types", p.GetTypes()); err != nil {
		return Part{}, err
	}
	if out.Users, err = decodeGroups("users", p.GetUsers()); err != nil {
		return Part{}, err
	}
	if out.Tags, err = decodeGroups("tags", p.GetTags()); err != nil {
		return Part{}, err
	}
	if out.Windows, err = decodeWindows(p.GetWindows()); err != nil {
		return Part{}, err
	}
	return out, nil
}

// column is one fixed-width column of a family, for the length checks.
type column struct {
	name  string
	b     []byte
	width int
}

func checkLengths(family string, size uint32, cols []column) error {
	for _, c := range cols {
		if want := uint64(size) * uint64(c.width); uint64(len(c.b)) != want {
			return fmt.Errorf("%s.%s has %d bytes, expected %d (size %d × %d bytes)", family, c.name, len(c.b), want, size, c.width)
		}
	}
	return nil
}

func decodeGroups(family string, c *pb.GroupColumns) ([]Group, error) {
	if c == nil {
		return nil, nil
	}
	err := checkLengths(family, c.Size, []column{{"key_end", c.KeyEnd, 4}, {"count", c.Count, 8}, {"sum", c.Sum, 8}, {"min", c.Min, 8}, {"max", c.Max, 8}})
	if err != nil {
		return nil, err
	}
	n := int(c.Size)
	keys := string(c.Keys) // one copy; each key is a substring of it
	out := make([]Group, n)
	prev := 0
	for i := range out {
		end := int(le.Uint32(c.KeyEnd[4*i:]))
		if end < prev {
			return nil, fmt.Errorf("%s.key_end[%d] = %d is before key_end[%d] = %d (key ends never decrease)", family, i, end, i-1, prev)
		}
		if end > len(keys) {
			return nil, fmt.Errorf("%s.key_end[%d] = %d is beyond keys (%d bytes)", family, i, end, len(keys))
		}
		key := keys[prev:end]
		if !utf8.ValidString(key) {
			return nil, fmt.Errorf("%s: key %d (keys[%d:%d]) is not valid UTF-8", family, i, prev, end)
		}
		if i > 0 && key <= out[i-1].Key {
			return nil, fmt.Errorf("%s: key %d is not after key %d (keys ascend strictly by bytes)", family, i, i-1)
		}
		out[i] = Group{key, Stats{
			Count: int64(le.Uint64(c.Count[8*i:])), Sum: int64(le.Uint64(c.Sum[8*i:])),
			Min: int64(le.Uint64(c.Min[8*i:])), Max: int64(le.Uint64(c.Max[8*i:])),
		}}
		prev = end
	}
	if prev != len(keys) {
		return nil, fmt.Errorf("%s.keys has %d bytes, but key_end ends at %d", family, len(keys), prev)
	}
	return out, nil
}

func decodeWindows(c *pb.WindowColumns) ([]Window, error) {
	if c == nil {
		return nil, nil
	}
	err := checkLengths("windows", c.Size, []column{{"start", c.Start, 8}, {"type_index", c.TypeIndex, 4}, {"count", c.Count, 8}, {"sum", c.Sum, 8}})
	if err != nil {
		return nil, err
	}
	types := make([]string, len(c.TypeDict))
	for k, t := range c.TypeDict {
		if !utf8.Valid(t) {
			return nil, fmt.Errorf("windows.type_dict[%d] is not valid UTF-8", k)
		}
		types[k] = string(t)
	}
	out := make([]Window, c.Size)
	for i := range out {
		t := le.Uint32(c.TypeIndex[4*i:])
		if uint64(t) >= uint64(len(types)) {
			return nil, fmt.Errorf("windows.type_index[%d] = %d is outside type_dict (%d entries)", i, t, len(types))
		}
		out[i] = Window{Start: int64(le.Uint64(c.Start[8*i:])), Type: types[t], WStats: WStats{Count: int64(le.Uint64(c.Count[8*i:])), Sum: int64(le.Uint64(c.Sum[8*i:]))}}
		if i > 0 && cmpWindow(&out[i-1], &out[i]) >= 0 {
			return nil, fmt.Errorf("windows: window %d is not after window %d (windows ascend strictly by start, then type bytes)", i, i-1)
		}
	}
	return out, nil
}
