package stage

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	pb "github.com/modular-runtime/aggregate/gen/pipeline/v1"
	"github.com/modular-runtime/aggregate/internal/frame"
)

// sendRaw plays an upstream that sends the header and then messages as bytes, whatever they
// hold, and returns how the stream ended.
func sendRaw(t *testing.T, c *chain, frames ...[]byte) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	stream, err := c.client.Process(ctx, grpc.ForceCodecV2(frame.Codec{}))
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&pb.StageRequest{Kind: &pb.StageRequest_Header{Header: header(2, false)}}); err != nil {
		t.Fatal(err)
	}
	for _, f := range frames {
		if stream.SendMsg(frame.OutBytes(f)) != nil {
			break
		}
	}
	for {
		if _, err := stream.Recv(); err != nil {
			return err
		}
	}
}

// Batches the stage reads from their bytes are checked as strictly as the rest: a malformed
// one fails the run with INVALID_ARGUMENT naming the stage and the batch.
func TestMalformedBatchBytesFailTheRun(t *testing.T) {
	batches, _ := makeBatches(21, 3, 40)
	good := func(i int) []byte {
		b, err := proto.Marshal(&pb.StageRequest{Kind: &pb.StageRequest_Batch{Batch: batches[i]}})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	withEvents := func(trace uint64, events []byte) []byte {
		body, _ := proto.Marshal(&pb.Batch{Meta: &pb.BatchMeta{TraceId: trace}})
		body = protowire.AppendBytes(protowire.AppendTag(body, 5, protowire.BytesType), events)
		return protowire.AppendBytes(protowire.AppendTag(nil, 2, protowire.BytesType), body)
	}
	tsAsVarint := protowire.AppendVarint(protowire.AppendTag(nil, 2, protowire.VarintType), 1)
	truncated := append(protowire.AppendTag(nil, 1, protowire.VarintType), 0x80)
	cases := []struct {
		name   string
		frames [][]byte
		want   string
	}{
		{"wrong wire type", [][]byte{good(0), withEvents(2, tsAsVarint)}, "aggregate: batch 2: events: field 2 at byte 0 has wire type 0, expected 2"},
		{"truncated varint", [][]byte{withEvents(1, truncated)}, "aggregate: batch 1: events: field count at byte 0: unexpected EOF"},
		{"columns and count", [][]byte{good(0), good(1), withEvents(3, protowire.AppendVarint(protowire.AppendTag(nil, 1, protowire.VarintType), 2))},
			"aggregate: batch 3: tag_set_index is missing (2 events"},
		{"raw lines", [][]byte{protowire.AppendBytes(protowire.AppendTag(nil, 2, protowire.BytesType), protowire.AppendBytes(protowire.AppendTag(nil, 4, protowire.BytesType), nil))},
			"aggregate: batch 0: expected events, got raw lines"},
		{"not a message", [][]byte{good(0), {0x12, 0x50, 0x01}}, "aggregate: the message after batch 1 is malformed: "},
	}
	for _, tc := range cases {
		sink := &fakeSink{}
		err := sendRaw(t, newChain(t, sink, Config{}), tc.frames...)
		if st := status.Convert(err); st.Code() != codes.InvalidArgument || !strings.HasPrefix(st.Message(), tc.want) {
			t.Errorf("%s: got %v, want INVALID_ARGUMENT %q", tc.name, err, tc.want)
		}
	}
}
