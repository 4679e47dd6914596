package frame

import (
	"bytes"
	"testing"

	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	pb "github.com/modular-runtime/aggregate/gen/pipeline/v1"
)

func batch() *pb.Batch {
	return &pb.Batch{
		Meta:     &pb.BatchMeta{TraceId: 42, IngestUnixNs: 1_700_000_000_000_000_000, FirstOffset: 10, EndOffset: 900, FirstLine: 3, LastLine: 77},
		Counters: &pb.BatchCounters{Lines: 75, Invalid: 2, Dropped: 5},
		DeadLetters: []*pb.DeadLetter{
			{Line: 4, Reason: pb.DeadLetterReason_DEAD_LETTER_REASON_INVALID_JSON, Detail: "unexpected end é"},
			{Line: 9, Reason: pb.DeadLetterReason_DEAD_LETTER_REASON_INVALID_EVENT, Detail: "no ts"},
		},
		Payload: &pb.Batch_Events{Events: &pb.Events{Count: 1, TsSeconds: make([]byte, 8), Value: make([]byte, 4), TypeIndex: make([]byte, 4),
			TypeDict: [][]byte{[]byte("click")}, UserIndex: make([]byte, 4), UserDict: [][]byte{[]byte("u1")}, TagSetIndex: make([]byte, 4),
			TagSets: []*pb.TagSet{{Pairs: [][]byte{[]byte("tier=low")}}}}},
	}
}

func marshal(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func request(b *pb.Batch) *pb.StageRequest {
	return &pb.StageRequest{Kind: &pb.StageRequest_Batch{Batch: b}}
}

func TestParseBatchFindsItsParts(t *testing.T) {
	for _, whole := range []bool{false, true} {
		b := batch()
		data := marshal(t, request(b))
		var fb Batch
		if !ParseBatch(data, &fb, whole) {
			t.Fatal("a well-formed batch was not read")
		}
		if fb.Trace != 42 || !fb.HasEvents || fb.HasRaw || !bytes.Equal(fb.Events, marshal(t, b.GetEvents())) {
			t.Fatalf("parts: %+v", fb)
		}
		if want := map[bool]uint32{false: 0, true: 1}[whole]; fb.Count != want {
			t.Errorf("whole=%v: count %d, want %d", whole, fb.Count, want)
		}
		// The forwarded batch: the bookkeeping without the payload, as protobuf reads it.
		out := fb.AppendFolded(nil)
		if len(out) != fb.FoldedSize() {
			t.Errorf("FoldedSize %d, encoded %d bytes", fb.FoldedSize(), len(out))
		}
		var got pb.StageRequest
		if err := proto.Unmarshal(out, &got); err != nil {
			t.Fatal(err)
		}
		want := request(&pb.Batch{Meta: b.Meta, Counters: b.Counters, DeadLetters: b.DeadLetters})
		if !proto.Equal(&got, want) {
			t.Errorf("forwarded %v, want %v", &got, want)
		}
	}
	// Without meta, counters, dead letters or payload; unknown batch fields are dropped.
	data := marshal(t, request(&pb.Batch{}))
	var fb Batch
	if !ParseBatch(data, &fb, true) || fb.Trace != 0 || fb.HasEvents || fb.HasRaw {
		t.Fatalf("empty batch: %+v", fb)
	}
	body := protowire.AppendTag(nil, 20, protowire.BytesType)
	body = protowire.AppendBytes(body, []byte("x"))
	body = append(body, marshal(t, &pb.Batch{Meta: &pb.BatchMeta{TraceId: 7}, Payload: &pb.Batch_Raw{Raw: &pb.RawLines{Data: []byte("{}\n")}}})...)
	data = protowire.AppendBytes(protowire.AppendTag(nil, 2, protowire.BytesType), body)
	if !ParseBatch(data, &fb, true) || fb.Trace != 7 || !fb.HasRaw || fb.HasEvents {
		t.Fatalf("raw batch: %+v", fb)
	}
	var got pb.StageRequest
	if err := proto.Unmarshal(fb.AppendFolded(nil), &got); err != nil || !proto.Equal(&got, request(&pb.Batch{Meta: &pb.BatchMeta{TraceId: 7}})) {
		t.Fatalf("forwarded %v, %v", &got, err)
	}
}

// Everything ParseBatch does not read exactly as protobuf would is left to protobuf.
func TestParseBatchLeavesTheRestToProtobuf(t *testing.T) {
	good := marshal(t, request(batch()))
	body := marshal(t, batch())
	wrap := func(body []byte) []byte {
		return protowire.AppendBytes(protowire.AppendTag(nil, 2, protowire.BytesType), body)
	}
	field := func(num protowire.Number, typ protowire.Type, v []byte) []byte {
		b := protowire.AppendTag(nil, num, typ)
		switch typ {
		case protowire.BytesType:
			return protowire.AppendBytes(b, v)
		case protowire.VarintType:
			return protowire.AppendVarint(b, 1)
		}
		return append(b, v...)
	}
	badUTF8 := marshal(t, &pb.Batch{DeadLetters: []*pb.DeadLetter{{Line: 1}}})
	badUTF8 = append(badUTF8[:len(badUTF8):len(badUTF8)], field(3, protowire.BytesType, field(3, protowire.BytesType, []byte{0xff, 0xfe}))...)
	cases := map[string][]byte{
		"header":              marshal(t, &pb.StageRequest{Kind: &pb.StageRequest_Header{Header: &pb.RunHeader{RunId: "r"}}}),
		"end":                 marshal(t, &pb.StageRequest{Kind: &pb.StageRequest_End{End: &pb.End{Batches: 1}}}),
		"barrier":             marshal(t, &pb.StageRequest{Kind: &pb.StageRequest_Barrier{Barrier: &pb.Barrier{CheckpointId: 1}}}),
		"empty message":       {},
		"two batches":         append(append([]byte{}, good...), good...),
		"batch then end":      append(append([]byte{}, good...), marshal(t, &pb.StageRequest{Kind: &pb.StageRequest_End{End: &pb.End{}}})...),
		"truncated":           good[:len(good)-1],
		"batch as varint":     field(2, protowire.VarintType, nil),
		"meta twice":          wrap(append(append([]byte{}, body...), field(1, protowire.BytesType, nil)...)),
		"counters twice":      wrap(append(append([]byte{}, body...), field(2, protowire.BytesType, nil)...)),
		"events twice":        wrap(append(append([]byte{}, body...), field(5, protowire.BytesType, nil)...)),
		"raw after events":    wrap(append(append([]byte{}, body...), field(4, protowire.BytesType, nil)...)),
		"meta as varint":      wrap(field(1, protowire.VarintType, nil)),
		"trace as bytes":      wrap(field(1, protowire.BytesType, field(1, protowire.BytesType, nil))),
		"counter as bytes":    wrap(field(2, protowire.BytesType, field(3, protowire.BytesType, nil))),
		"reason as fixed32":   wrap(field(3, protowire.BytesType, field(2, protowire.Fixed32Type, []byte{1, 0, 0, 0}))),
		"detail not UTF-8":    wrap(badUTF8),
		"bad unknown field":   wrap(append(field(9, protowire.Fixed64Type, nil), 1, 2)),
		"bad field in meta":   wrap(field(1, protowire.BytesType, []byte{0x80})),
		"events truncated":    wrap(field(5, protowire.BytesType, []byte{0x12, 9, 1})),
		"raw lines truncated": wrap(field(4, protowire.BytesType, []byte{0x0a, 9, 1})),
	}
	for name, data := range cases {
		whole := name == "events truncated" || name == "raw lines truncated"
		var fb Batch
		if ParseBatch(data, &fb, whole) {
			t.Errorf("%s: read as a batch: %+v", name, fb)
		}
	}
	// Events are only looked into for a whole message: otherwise agg.DecodeEvents does.
	var fb Batch
	if !ParseBatch(cases["events truncated"], &fb, false) {
		t.Error("events truncated: refused although its events are not read here")
	}
}

func TestCodecPassesBytesThrough(t *testing.T) {
	c := Codec{}
	if c.Name() != "proto" {
		t.Fatalf("name %q", c.Name())
	}
	data := marshal(t, request(batch()))
	// A message received in pieces is copied into one buffer; in one piece, it is used as is.
	for _, pieces := range [][]int{{len(data)}, {10, 100, len(data)}} {
		var bs mem.BufferSlice
		prev := 0
		for _, end := range pieces {
			bs = append(bs, mem.SliceBuffer(data[prev:end]))
			prev = end
		}
		var in In
		if err := c.Unmarshal(bs, &in); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(in.Data, data) {
			t.Fatalf("%d pieces: got other bytes", len(pieces))
		}
		in.Free()
		if in.Data != nil {
			t.Fatal("Data kept after Free")
		}
	}
	// Other messages go through protobuf both ways.
	var m pb.StageRequest
	if err := c.Unmarshal(mem.BufferSlice{mem.SliceBuffer(data)}, &m); err != nil || m.GetBatch().GetMeta().GetTraceId() != 42 {
		t.Fatalf("protobuf message: %v, %v", &m, err)
	}
	out, err := c.Marshal(&m)
	if err != nil || !bytes.Equal(out.Materialize(), data) {
		t.Fatalf("Marshal: %v", err)
	}
	out, err = c.Marshal(OutBytes([]byte("abc")))
	if err != nil || string(out.Materialize()) != "abc" {
		t.Fatalf("Marshal(Out) = %q, %v", out.Materialize(), err)
	}
	in := &In{Data: []byte("xyz")}
	o := OutFrame(in)
	if in.Data != nil {
		t.Fatal("OutFrame left the message usable")
	}
	if out, _ := c.Marshal(o); string(out.Materialize()) != "xyz" {
		t.Fatalf("Marshal(OutFrame) = %q", out.Materialize())
	}
}

func TestBufPool(t *testing.T) {
	for _, n := range []int{0, 1, 2, 3, 1000, 1 << 16, 1<<16 + 1, 300_000} {
		b := pool.Get(n)
		if len(*b) != n || cap(*b) < n || cap(*b)&(cap(*b)-1) != 0 {
			t.Fatalf("Get(%d): len %d cap %d", n, len(*b), cap(*b))
		}
		pool.Put(b)
	}
	odd := make([]byte, 3, 3)
	pool.Put(&odd) // not one of the pool's: dropped
	if b := pool.Get(3); cap(*b) != 4 {
		t.Fatalf("Get(3) after Put of a foreign buffer: cap %d", cap(*b))
	}
}
