// Package frame reads and writes the stage's StageRequest messages without copying them: a
// gRPC codec hands the received message's bytes to the stage as they are (In), ParseBatch
// finds the parts of a batch in them, and a message the stage has encoded itself (Out) is
// sent as it is. Every other message goes through the ordinary protobuf codec.
//
// Decoding a batch with google.golang.org/protobuf copies every bytes field: each column and
// each of the thousands of dictionary entries of a batch becomes an allocation. Here the
// columns and dictionaries are sub-slices of the received message (agg.DecodeEvents), which
// is returned to gRPC's buffer pool once the batch has been folded.
package frame

import (
	"math/bits"
	"sync"
	"unicode/utf8"

	"google.golang.org/grpc/encoding"
	_ "google.golang.org/grpc/encoding/proto" // registers the protobuf codec used for the rest
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
)

// In is a received message, undecoded. Data stays valid until Free.
type In struct {
	Data []byte
	buf  mem.Buffer
}

// Free returns the message's buffer to gRPC's pool; Data must not be used afterwards.
func (m *In) Free() {
	if m.buf != nil {
		m.buf.Free()
	}
	m.buf, m.Data = nil, nil
}

// Out is an encoded message to send as it is. Sending it gives its buffer to gRPC, which
// frees it once written: an Out is sent once.
type Out struct {
	bufs mem.BufferSlice
}

// OutBytes is a message encoded into b, which the caller no longer touches.
func OutBytes(b []byte) *Out { return &Out{bufs: mem.BufferSlice{mem.SliceBuffer(b)}} }

// OutFrame sends a received message on unchanged: its buffer passes to gRPC, so in must not
// be used or freed afterwards.
func OutFrame(in *In) *Out {
	o := &Out{bufs: mem.BufferSlice{in.buf}}
	if in.buf == nil {
		o.bufs = mem.BufferSlice{mem.SliceBuffer(in.Data)}
	}
	in.buf, in.Data = nil, nil
	return o
}

// Codec is the protobuf codec of gRPC, but for In and Out, which it passes through as bytes.
// Its name is "proto": peers see the ordinary protobuf content type.
type Codec struct{}

var protoCodec = encoding.GetCodecV2("proto")

// Marshal encodes v; an *Out is its own encoding.
func (Codec) Marshal(v any) (mem.BufferSlice, error) {
	if o, ok := v.(*Out); ok {
		b := o.bufs
		o.bufs = nil
		return b, nil
	}
	return protoCodec.Marshal(v)
}

// Unmarshal decodes data into v; an *In keeps the bytes (one buffer, no copy when gRPC
// received the message in one piece).
func (Codec) Unmarshal(data mem.BufferSlice, v any) error {
	if in, ok := v.(*In); ok {
		if len(data) == 1 {
			data[0].Ref()
			in.buf = data[0]
		} else {
			// Like data.MaterializeToBuffer, from a pool that does not clear what it hands
			// out: the copy overwrites all of it.
			b := pool.Get(data.Len())
			data.CopyTo(*b)
			in.buf = mem.NewBuffer(b, pool)
		}
		in.Data = in.buf.ReadOnlyData()
		return nil
	}
	return protoCodec.Unmarshal(data, v)
}

// pool keeps the buffers of received messages for reuse, by power-of-two capacity.
var pool = &bufPool{}

type bufPool struct {
	tiers [64]sync.Pool // tier k: capacity 2^k
}

// Get returns a buffer of the given length; its contents are not cleared.
func (p *bufPool) Get(length int) *[]byte {
	k := bits.Len(uint(max(length, 1) - 1))
	if b, ok := p.tiers[k].Get().(*[]byte); ok {
		*b = (*b)[:length]
		return b
	}
	b := make([]byte, length, 1<<k)
	return &b
}

// Put takes back a buffer from Get.
func (p *bufPool) Put(b *[]byte) {
	c := cap(*b)
	if c == 0 || c&(c-1) != 0 {
		return // not one of ours
	}
	p.tiers[bits.Len(uint(c))-1].Put(b)
}

// Name is the content subtype.
func (Codec) Name() string { return "proto" }

// Field numbers of StageRequest, Batch, BatchMeta and DeadLetter (proto/pipeline/v1).
const (
	reqBatch        = 2
	batchMeta       = 1
	batchCounters   = 2
	batchDeadLetter = 3
	batchRaw        = 4
	batchEvents     = 5
	eventsCount     = 1
	metaTraceID     = 1
	deadDetail      = 3
)

// Batch is where the parts of a StageRequest holding a Batch are in its bytes.
type Batch struct {
	Trace uint64 // meta.trace_id (0 without meta)
	// The meta, counters and dead-letter fields of the batch, each as received (tag, length
	// and contents), in the order the forwarded batch lists them.
	keep [][]byte
	// The payload: Events' bytes (HasEvents), or raw lines (HasRaw), or neither.
	Events            []byte
	HasEvents, HasRaw bool
	Count             uint32 // events.count (HasEvents; read only for a whole message)
}

// ParseBatch reads a StageRequest whose only field is a Batch. It returns false for every
// other message and for any batch it does not read exactly as protobuf would — another kind,
// several top-level fields, a known field with another wire type or repeated where protobuf
// would merge, invalid UTF-8 in a dead letter's detail, bytes that are not a valid message —
// and the caller decodes those with protobuf instead. The payload is checked and the count of
// the events read only when `whole` is set (pass-through, which forwards the message as it
// is); otherwise agg.DecodeEvents reads the events, and raw lines are refused anyway.
func ParseBatch(data []byte, b *Batch, whole bool) bool {
	*b = Batch{keep: b.keep[:0]}
	num, typ, n := protowire.ConsumeTag(data)
	if n < 0 || num != reqBatch || typ != protowire.BytesType {
		return false
	}
	body, m := protowire.ConsumeBytes(data[n:])
	if m < 0 || n+m != len(data) {
		return false
	}
	var meta, counters []byte
	var dead [][]byte
	for pos := 0; pos < len(body); {
		num, typ, n := protowire.ConsumeTag(body[pos:])
		if n < 0 {
			return false
		}
		start := pos
		pos += n
		if num < batchMeta || num > batchEvents { // unknown: valid, not forwarded
			n = protowire.ConsumeFieldValue(num, typ, body[pos:])
			if n < 0 {
				return false
			}
			pos += n
			continue
		}
		if typ != protowire.BytesType {
			return false
		}
		v, n := protowire.ConsumeBytes(body[pos:])
		if n < 0 {
			return false
		}
		pos += n
		field := body[start:pos]
		switch num {
		case batchMeta:
			if meta != nil || !parseMeta(v, &b.Trace) {
				return false
			}
			meta = field
		case batchCounters:
			if counters != nil || !wellFormed(v, 3, 0) {
				return false
			}
			counters = field
		case batchDeadLetter:
			if !wellFormed(v, 2, deadDetail) {
				return false
			}
			dead = append(dead, field)
		case batchRaw, batchEvents:
			if b.HasEvents || b.HasRaw || (whole && !validMessage(v)) {
				return false
			}
			if num == batchRaw {
				b.HasRaw = true
			} else {
				b.HasEvents, b.Events = true, v
				if whole {
					b.Count = eventCount(v)
				}
			}
		}
	}
	if meta != nil {
		b.keep = append(b.keep, meta)
	}
	if counters != nil {
		b.keep = append(b.keep, counters)
	}
	b.keep = append(b.keep, dead...)
	return true
}

// AppendFolded appends the StageRequest that forwards the batch without its payload: its
// meta, counters and dead letters, as received.
func (b *Batch) AppendFolded(dst []byte) []byte {
	n := 0
	for _, f := range b.keep {
		n += len(f)
	}
	dst = protowire.AppendTag(dst, reqBatch, protowire.BytesType)
	dst = protowire.AppendVarint(dst, uint64(n))
	for _, f := range b.keep {
		dst = append(dst, f...)
	}
	return dst
}

// FoldedSize is the length of AppendFolded's message.
func (b *Batch) FoldedSize() int {
	n := 0
	for _, f := range b.keep {
		n += len(f)
	}
	return 1 + protowire.SizeVarint(uint64(n)) + n
}

// parseMeta reads BatchMeta: six varint fields; trace_id is field 1 (the last one wins).
func parseMeta(b []byte, trace *uint64) bool {
	for pos := 0; pos < len(b); {
		num, typ, n := protowire.ConsumeTag(b[pos:])
		if n < 0 {
			return false
		}
		pos += n
		if num >= 1 && num <= 6 && typ != protowire.VarintType {
			return false
		}
		if num == metaTraceID {
			v, n := protowire.ConsumeVarint(b[pos:])
			if n < 0 {
				return false
			}
			*trace = v
			pos += n
			continue
		}
		n = protowire.ConsumeFieldValue(num, typ, b[pos:])
		if n < 0 {
			return false
		}
		pos += n
	}
	return true
}

// wellFormed checks a message made of well-formed fields in which fields 1..varints are varints
// and field text, when not 0, is a UTF-8 string: BatchCounters (3 varints) and DeadLetter (line
// and reason varints, detail text).
func wellFormed(b []byte, varints, text protowire.Number) bool {
	for pos := 0; pos < len(b); {
		num, typ, n := protowire.ConsumeTag(b[pos:])
		if n < 0 {
			return false
		}
		pos += n
		if text != 0 && num == text {
			v, n := protowire.ConsumeBytes(b[pos:])
			if typ != protowire.BytesType || n < 0 || !utf8.Valid(v) {
				return false
			}
			pos += n
			continue
		}
		if num >= 1 && num <= varints && typ != protowire.VarintType {
			return false
		}
		n = protowire.ConsumeFieldValue(num, typ, b[pos:])
		if n < 0 {
			return false
		}
		pos += n
	}
	return true
}

// validMessage checks that b is a sequence of well-formed fields.
func validMessage(b []byte) bool {
	for pos := 0; pos < len(b); {
		_, _, n := protowire.ConsumeField(b[pos:])
		if n < 0 {
			return false
		}
		pos += n
	}
	return true
}

// eventCount is Events.count of a valid Events message (the last one wins; 0 when absent or
// not a varint, as protobuf reads it).
func eventCount(b []byte) uint32 {
	var c uint32
	for pos := 0; pos < len(b); {
		num, typ, n := protowire.ConsumeTag(b[pos:])
		pos += n
		if num == eventsCount && typ == protowire.VarintType {
			v, n := protowire.ConsumeVarint(b[pos:])
			c = uint32(v)
			pos += n
			continue
		}
		pos += protowire.ConsumeFieldValue(num, typ, b[pos:])
	}
	return c
}
