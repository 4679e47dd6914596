package stage

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	pb "github.com/modular-runtime/aggregate/gen/pipeline/v1"
	"github.com/modular-runtime/aggregate/internal/agg"
)

// ---- a fake sink: records what arrives, acks batches, answers End with RunComplete ----------

type fakeSink struct {
	pb.UnimplementedSinkServiceServer
	mu          sync.Mutex
	got         []*pb.StageRequest
	streams     [][]*pb.StageRequest // what arrived, per stream in the order they opened
	failAt      uint64               // fail the stream with DataLoss when this batch arrives (0: never)
	ackDelay    time.Duration        // delay before acking each batch
	inFlight    int
	maxInFlight int
	streamErr   error // how the last stream ended
	done        chan struct{}
	// On a Barrier: onBarrier is called (in the stream's goroutine), then checkpoint_done is
	// replied at once when doneOnBarrier is set.
	onBarrier     func(n uint64)
	doneOnBarrier bool
}

func (f *fakeSink) Process(s pb.SinkService_ProcessServer) error {
	defer func() {
		select {
		case f.done <- struct{}{}:
		default:
		}
	}()
	out := make(chan *pb.StageResponse, 1024)
	sendErr := make(chan error, 1)
	go func() {
		for m := range out {
			if err := s.Send(m); err != nil {
				sendErr <- err
				return
			}
		}
		sendErr <- nil
	}()
	var acks sync.WaitGroup
	finish := func(err error) error {
		acks.Wait()
		close(out)
		if e := <-sendErr; err == nil {
			err = e
		}
		f.mu.Lock()
		f.streamErr = err
		f.mu.Unlock()
		return err
	}
	var header *pb.RunHeader
	var batches uint64
	f.mu.Lock()
	stream := len(f.streams)
	f.streams = append(f.streams, nil)
	f.mu.Unlock()
	for {
		m, err := s.Recv()
		if err != nil {
			return finish(err)
		}
		f.mu.Lock()
		f.got = append(f.got, m)
		f.streams[stream] = append(f.streams[stream], m)
		f.mu.Unlock()
		switch k := m.Kind.(type) {
		case *pb.StageRequest_Barrier:
			if f.onBarrier != nil {
				f.onBarrier(k.Barrier.GetCheckpointId())
			}
			if f.doneOnBarrier {
				out <- &pb.StageResponse{Kind: &pb.StageResponse_CheckpointDone{CheckpointDone: k.Barrier.GetCheckpointId()}}
			}
		case *pb.StageRequest_Header:
			header = k.Header
		case *pb.StageRequest_Batch:
			trace := k.Batch.GetMeta().GetTraceId()
			batches++
			if trace == f.failAt {
				return finish(status.Error(codes.DataLoss, "boom at batch "+fmt.Sprint(trace)))
			}
			f.mu.Lock()
			f.inFlight++
			f.maxInFlight = max(f.maxInFlight, f.inFlight)
			f.mu.Unlock()
			acks.Add(1)
			go func() {
				defer acks.Done()
				time.Sleep(f.ackDelay)
				f.mu.Lock()
				f.inFlight--
				f.mu.Unlock()
				out <- &pb.StageResponse{Kind: &pb.StageResponse_Ack{Ack: trace}}
			}()
		case *pb.StageRequest_End:
			acks.Wait()
			stages := append(k.End.Stages, &pb.StageMetrics{Stage: "sink", Language: "fake"})
			out <- &pb.StageResponse{Kind: &pb.StageResponse_Complete{Complete: &pb.RunComplete{RunId: header.GetRunId(), Batches: batches, Stages: stages}}}
			return finish(nil)
		}
	}
}

func (f *fakeSink) messages() []*pb.StageRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.got)
}

func serve(t testing.TB, register func(*grpc.Server)) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(ServerOptions()...)
	register(srv)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return lis.Addr().String()
}

type chain struct {
	sink   *fakeSink
	client pb.AggregateServiceClient
}

func newChain(t testing.TB, sink *fakeSink, cfg Config) *chain {
	t.Helper()
	if sink.done == nil {
		sink.done = make(chan struct{}, 1)
	}
	if cfg.DownstreamAddress == "" && cfg.Lookup == nil {
		cfg.DownstreamAddress = serve(t, func(s *grpc.Server) { pb.RegisterSinkServiceServer(s, sink) })
	}
	svc := New(cfg)
	t.Cleanup(svc.Close)
	addr := serve(t, func(s *grpc.Server) { pb.RegisterAggregateServiceServer(s, svc) })
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxMessageBytes), grpc.MaxCallSendMsgSize(MaxMessageBytes)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return &chain{sink: sink, client: pb.NewAggregateServiceClient(conn)}
}

// ---- test data -------------------------------------------------------------------------------

type event struct {
	ts        int64
	v         int32
	typ, user string
	tags      []string
}

func encode(evs []event) *pb.Events {
	e := &pb.Events{Count: uint32(len(evs))}
	types, users, sets := map[string]uint32{}, map[string]uint32{}, map[string]uint32{}
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

func makeBatches(seed uint64, n, per int) ([]*pb.Batch, [][]event) {
	r := rand.New(rand.NewPCG(seed, 7))
	types := []string{"click", "buy", "search", "\u00e9"}
	var batches []*pb.Batch
	var all [][]event
	line := uint64(1)
	for i := 1; i <= n; i++ {
		k := r.IntN(per + 1)
		evs := make([]event, k)
		for j := range evs {
			v := int32(r.IntN(400)) - 100
			tag := []string{"tier=low"}
			if v >= 100 {
				tag = []string{"region=eu", "tier=high"}
			}
			evs[j] = event{ts: r.Int64N(20_000) - 10_000, v: v, typ: types[r.IntN(len(types))], user: fmt.Sprintf("u%04d", r.IntN(500)), tags: tag}
		}
		b := &pb.Batch{
			Meta:        &pb.BatchMeta{TraceId: uint64(i), IngestUnixNs: time.Now().UnixNano(), FirstLine: line, LastLine: line + uint64(k) + 1, FirstOffset: line * 10, EndOffset: (line + uint64(k) + 2) * 10},
			Counters:    &pb.BatchCounters{Lines: uint64(k) + 2, Invalid: 1, Dropped: 1},
			DeadLetters: []*pb.DeadLetter{{Line: line + uint64(k), Reason: pb.DeadLetterReason_DEAD_LETTER_REASON_INVALID_JSON, Detail: "bad"}},
		}
		if i%5 != 0 || k > 0 {
			b.Payload = &pb.Batch_Events{Events: encode(evs)}
		}
		line += uint64(k) + 2
		batches = append(batches, b)
		all = append(all, evs)
	}
	return batches, all
}

// expected folds events the obvious way into sorted groups.
func expected(batches [][]event, w int64) (types, users, tags []agg.Group, windows []agg.Window) {
	fam := [3]map[string]*agg.Group{{}, {}, {}}
	type wk struct {
		start int64
		typ   string
	}
	wins := map[wk]*agg.Window{}
	add := func(m map[string]*agg.Group, k string, v int64) {
		g := m[k]
		if g == nil {
			g = &agg.Group{Key: k, Stats: agg.Stats{Min: v, Max: v}}
			m[k] = g
		}
		g.Count++
		g.Sum += v
		g.Min, g.Max = min(g.Min, v), max(g.Max, v)
	}
	for _, b := range batches {
		for _, e := range b {
			add(fam[0], e.typ, int64(e.v))
			add(fam[1], e.user, int64(e.v))
			for _, t := range e.tags {
				add(fam[2], t, int64(e.v))
			}
			start := e.ts - ((e.ts%w)+w)%w
			k := wk{start, e.typ}
			if wins[k] == nil {
				wins[k] = &agg.Window{Start: start, Type: e.typ}
			}
			wins[k].Count++
			wins[k].Sum += int64(e.v)
		}
	}
	sorted := func(m map[string]*agg.Group) []agg.Group {
		out := make([]agg.Group, 0, len(m))
		for _, g := range m {
			out = append(out, *g)
		}
		slices.SortFunc(out, func(a, b agg.Group) int { return strings.Compare(a.Key, b.Key) })
		return out
	}
	for _, w := range wins {
		windows = append(windows, *w)
	}
	slices.SortFunc(windows, func(a, b agg.Window) int {
		if a.Start != b.Start {
			return int(max(-1, min(1, a.Start-b.Start)))
		}
		return strings.Compare(a.Type, b.Type)
	})
	return sorted(fam[0]), sorted(fam[1]), sorted(fam[2]), windows
}

// decodeParts decodes result parts as the sink reads them (failing the test on a malformed
// one): each part's groups, and every family's groups across the parts in order.
func decodeParts(t testing.TB, parts []*pb.ResultPart) (each []agg.Part, all agg.Part) {
	t.Helper()
	for i, p := range parts {
		d, err := agg.DecodePart(p)
		if err != nil {
			t.Fatalf("result part %d: %v", i, err)
		}
		each = append(each, d)
		all.Types, all.Users, all.Tags, all.Windows = append(all.Types, d.Types...), append(all.Users, d.Users...), append(all.Tags, d.Tags...), append(all.Windows, d.Windows...)
	}
	return each, all
}

// ---- the upstream side -------------------------------------------------------------------------

type outcome struct {
	acks     []uint64
	complete *pb.RunComplete
	err      error
}

// drive plays the upstream: sends the header, the batches under a window of 8 and End, and
// collects acks and the RunComplete.
func drive(t testing.TB, c *chain, header *pb.RunHeader, batches []*pb.Batch, end *pb.End) outcome {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	stream, err := c.client.Process(ctx)
	if err != nil {
		t.Fatal(err)
	}
	credits := make(chan struct{}, 8)
	var o outcome
	recvDone := make(chan struct{})
	go func() {
		defer close(recvDone)
		for {
			m, err := stream.Recv()
			if err == io.EOF {
				return
			}
			if err != nil {
				o.err = err
				return
			}
			switch k := m.Kind.(type) {
			case *pb.StageResponse_Ack:
				o.acks = append(o.acks, k.Ack)
				<-credits
			case *pb.StageResponse_Complete:
				o.complete = k.Complete
			}
		}
	}()
	send := func(m *pb.StageRequest) bool { return stream.Send(m) == nil }
	ok := send(&pb.StageRequest{Kind: &pb.StageRequest_Header{Header: header}})
	for _, b := range batches {
		if !ok {
			break
		}
		select {
		case credits <- struct{}{}:
		case <-recvDone:
			ok = false
			continue
		}
		ok = send(&pb.StageRequest{Kind: &pb.StageRequest_Batch{Batch: b}})
	}
	if ok && end != nil {
		send(&pb.StageRequest{Kind: &pb.StageRequest_End{End: end}})
		_ = stream.CloseSend()
	}
	<-recvDone
	return o
}

func header(partitions uint32, pass bool) *pb.RunHeader {
	return &pb.RunHeader{RunId: "run-1", RulesJson: `{"drop":[],"windowSeconds":60}`, Partitions: partitions, OutDir: "/tmp/x", InputPath: "/in.ndjson", BatchSize: 100, Passthrough: pass, StartedUnixNs: 42}
}

func inputEnd(n int) *pb.End {
	return &pb.End{Batches: uint64(n), PhysicalLines: 1000, InputBytes: 12345, Stages: []*pb.StageMetrics{{Stage: "ingest", Language: "typescript"}, {Stage: "parse", Language: "rust"}, {Stage: "rules", Language: "python"}}}
}

// ---- tests --------------------------------------------------------------------------------------

func TestRunFoldsForwardsAndCompletes(t *testing.T) {
	for _, p := range []uint32{0, 1, 3} {
		t.Run(fmt.Sprintf("partitions=%d", p), func(t *testing.T) {
			sink := &fakeSink{}
			c := newChain(t, sink, Config{Partitions: 2})
			batches, events := makeBatches(uint64(p)+1, 30, 300)
			o := drive(t, c, header(p, false), batches, inputEnd(len(batches)))
			if o.err != nil {
				t.Fatalf("stream failed: %v", o.err)
			}
			// Acks: every batch, in order.
			if len(o.acks) != len(batches) {
				t.Fatalf("%d acks for %d batches", len(o.acks), len(batches))
			}
			for i, a := range o.acks {
				if a != uint64(i+1) {
					t.Fatalf("ack %d is %d", i, a)
				}
			}
			if o.complete == nil || o.complete.RunId != "run-1" || o.complete.Batches != uint64(len(batches)) {
				t.Fatalf("RunComplete = %v", o.complete)
			}

			got := sink.messages()
			if h := got[0].GetHeader(); !proto.Equal(h, header(p, false)) {
				t.Fatalf("header not forwarded unchanged: %v", got[0])
			}
			// The folded batches: same meta, counters and dead letters, no payload, in order.
			for i, b := range batches {
				fb := got[1+i].GetBatch()
				want := &pb.Batch{Meta: b.Meta, Counters: b.Counters, DeadLetters: b.DeadLetters}
				if !proto.Equal(fb, want) {
					t.Fatalf("forwarded batch %d = %v, want %v", i+1, fb, want)
				}
			}
			// Then the result parts, then End.
			rest := got[1+len(batches):]
			var parts []*pb.ResultPart
			for _, m := range rest[:len(rest)-1] {
				if m.GetResultPart() == nil {
					t.Fatalf("expected only ResultParts before End, got %v", m)
				}
				parts = append(parts, m.GetResultPart())
			}
			each, all := decodeParts(t, parts)
			for _, d := range each {
				n := len(d.Types) + len(d.Users) + len(d.Tags) + len(d.Windows)
				if n == 0 || n > agg.MaxGroupsPerPart {
					t.Fatalf("part with %d groups", n)
				}
			}
			wt, wu, wtag, ww := expected(events, 60)
			for _, f := range []struct {
				name      string
				got, want []agg.Group
			}{{"byType", all.Types, wt}, {"byUser", all.Users, wu}, {"byTag", all.Tags, wtag}} {
				if !slices.Equal(f.got, f.want) {
					t.Errorf("%s: got %d groups, want %d", f.name, len(f.got), len(f.want))
				}
			}
			if !slices.Equal(all.Windows, ww) {
				t.Errorf("byWindow: got %d groups, want %d", len(all.Windows), len(ww))
			}

			end := rest[len(rest)-1].GetEnd()
			if end == nil || end.Batches != uint64(len(batches)) || end.InputBytes != 12345 || len(end.Stages) != 4 {
				t.Fatalf("End = %v", rest[len(rest)-1])
			}
			m := end.Stages[3]
			total := 0
			for _, evs := range events {
				total += len(evs)
			}
			if m.Stage != "aggregate" || m.Language != "go" || m.BatchesIn != uint64(len(batches)) || m.BatchesOut != uint64(len(batches)) ||
				m.EventsIn != uint64(total) || m.EventsOut != uint64(total) || m.Pid != int32(os.Getpid()) || m.PeakRssBytes == 0 || m.BusyNs <= 0 {
				t.Fatalf("aggregate metrics = %v (events %d)", m, total)
			}
			if len(o.complete.Stages) != 5 || o.complete.Stages[3].Stage != "aggregate" {
				t.Fatalf("RunComplete stages = %v", o.complete.Stages)
			}
		})
	}
}

func TestManyGroupsAreChunked(t *testing.T) {
	sink := &fakeSink{}
	c := newChain(t, sink, Config{Partitions: 2})
	var evs []event
	for i := 0; i < 23_456; i++ {
		evs = append(evs, event{ts: int64(i), v: 1, typ: "t", user: fmt.Sprintf("user-%06d", i), tags: nil})
	}
	b := &pb.Batch{Meta: &pb.BatchMeta{TraceId: 1}, Counters: &pb.BatchCounters{Lines: uint64(len(evs))}, Payload: &pb.Batch_Events{Events: encode(evs)}}
	o := drive(t, c, header(0, false), []*pb.Batch{b}, inputEnd(1))
	if o.err != nil || o.complete == nil {
		t.Fatalf("run: %v", o.err)
	}
	var parts []*pb.ResultPart
	for _, m := range sink.messages() {
		if p := m.GetResultPart(); p != nil {
			parts = append(parts, p)
		}
	}
	each, all := decodeParts(t, parts)
	var sizes []int
	for _, d := range each {
		sizes = append(sizes, len(d.Types)+len(d.Users)+len(d.Tags)+len(d.Windows))
	}
	var users []string
	for _, g := range all.Users {
		users = append(users, g.Key)
	}
	// 1 type + 23,456 users + 391 windows = 23,848 groups → 10,000 + 10,000 + 3,848.
	if !slices.Equal(sizes, []int{10_000, 10_000, 3_848}) {
		t.Fatalf("part sizes %v", sizes)
	}
	if len(users) != len(evs) || !slices.IsSorted(users) {
		t.Fatalf("byUser: %d keys, sorted %v", len(users), slices.IsSorted(users))
	}
}

func TestPassThroughForwardsUnchanged(t *testing.T) {
	sink := &fakeSink{}
	c := newChain(t, sink, Config{})
	batches, _ := makeBatches(9, 12, 100)
	// Pass-through does no work, so even a batch aggregate could not fold is forwarded.
	batches[3].Payload = &pb.Batch_Raw{Raw: &pb.RawLines{Data: []byte("{}\n")}}
	o := drive(t, c, header(0, true), batches, inputEnd(len(batches)))
	if o.err != nil || o.complete == nil || len(o.acks) != len(batches) {
		t.Fatalf("run: err %v, complete %v, %d acks", o.err, o.complete, len(o.acks))
	}
	got := sink.messages()
	if len(got) != len(batches)+2 {
		t.Fatalf("sink got %d messages, want header + %d batches + End", len(got), len(batches))
	}
	for i, b := range batches {
		if !proto.Equal(got[1+i].GetBatch(), b) {
			t.Fatalf("batch %d changed in pass-through", i+1)
		}
	}
	m := got[len(got)-1].GetEnd().GetStages()[3]
	if m.Stage != "aggregate" || m.BatchesOut != uint64(len(batches)) {
		t.Fatalf("metrics %v", m)
	}
}

func TestMalformedBatchFailsTheRun(t *testing.T) {
	sink := &fakeSink{}
	c := newChain(t, sink, Config{})
	batches, _ := makeBatches(3, 6, 50)
	ev := encode([]event{{ts: 1, v: 1, typ: "a", user: "u", tags: []string{"x=y"}}, {ts: 2, v: 2, typ: "a", user: "u"}})
	binary.LittleEndian.PutUint32(ev.UserIndex[4:], 9)
	batches[2].Payload = &pb.Batch_Events{Events: ev}
	o := drive(t, c, header(2, false), batches, inputEnd(len(batches)))
	st := status.Convert(o.err)
	if st.Code() != codes.InvalidArgument || st.Message() != "aggregate: batch 3: event 1: user_index 9 is outside user_dict (1 entries)" {
		t.Fatalf("got %v", o.err)
	}
	// The sink's stream is cancelled, not completed.
	select {
	case <-sink.done:
	case <-time.After(5 * time.Second):
		t.Fatal("sink stream still open")
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if status.Code(sink.streamErr) != codes.Canceled {
		t.Fatalf("sink stream ended with %v", sink.streamErr)
	}
	for _, m := range sink.got {
		if m.GetEnd() != nil || m.GetResultPart() != nil {
			t.Fatalf("sink got %v after a failed run", m)
		}
	}

	// Columns that do not match the count, and a missing tag_set_index.
	for _, bad := range []struct {
		mutate func(*pb.Events)
		want   string
	}{
		{func(e *pb.Events) { e.Value = e.Value[:4] }, "aggregate: batch 1: column value has 4 bytes, expected 8"},
		{func(e *pb.Events) { e.TagSetIndex = nil }, "aggregate: batch 1: tag_set_index is missing"},
	} {
		e := encode([]event{{ts: 1, v: 1, typ: "a", user: "u"}, {ts: 2, v: 2, typ: "a", user: "u"}})
		bad.mutate(e)
		o := drive(t, newChain(t, &fakeSink{}, Config{}), header(0, false), []*pb.Batch{{Meta: &pb.BatchMeta{TraceId: 1}, Payload: &pb.Batch_Events{Events: e}}}, inputEnd(1))
		if st := status.Convert(o.err); st.Code() != codes.InvalidArgument || !strings.HasPrefix(st.Message(), bad.want) {
			t.Errorf("got %v, want %q", o.err, bad.want)
		}
	}
}

func TestFirstMessageMustBeHeader(t *testing.T) {
	c := newChain(t, &fakeSink{}, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := c.client.Process(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_ = s.Send(&pb.StageRequest{Kind: &pb.StageRequest_Batch{Batch: &pb.Batch{}}})
	_, err = s.Recv()
	if st := status.Convert(err); st.Code() != codes.FailedPrecondition || st.Message() != "aggregate: the first message must be a RunHeader, got a Batch" {
		t.Fatalf("got %v", err)
	}
}

func TestSinkFailureIsPassedUpstream(t *testing.T) {
	sink := &fakeSink{failAt: 4}
	c := newChain(t, sink, Config{})
	batches, _ := makeBatches(5, 10, 50)
	o := drive(t, c, header(0, false), batches, inputEnd(len(batches)))
	if st := status.Convert(o.err); st.Code() != codes.DataLoss || st.Message() != "aggregate: sink failed: boom at batch 4" {
		t.Fatalf("got %v", o.err)
	}
	if o.complete != nil {
		t.Fatal("RunComplete after the sink failed")
	}
}

func TestWindowBoundsBatchesInFlight(t *testing.T) {
	sink := &fakeSink{ackDelay: 15 * time.Millisecond}
	c := newChain(t, sink, Config{})
	batches, _ := makeBatches(11, 40, 20)
	o := drive(t, c, header(0, false), batches, inputEnd(len(batches)))
	if o.err != nil || o.complete == nil {
		t.Fatalf("run: %v", o.err)
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if sink.maxInFlight > DefaultWindow || sink.maxInFlight < 2 {
		t.Fatalf("%d batches in flight at the sink, want 2..%d", sink.maxInFlight, DefaultWindow)
	}
}

func TestDownstreamNotRegistered(t *testing.T) {
	lookups := 0
	var mu sync.Mutex
	c := newChain(t, &fakeSink{}, Config{
		Lookup: func(ctx context.Context, name string) (string, error) {
			mu.Lock()
			defer mu.Unlock()
			if name != "sink2" {
				t.Errorf("looked up %q", name)
			}
			lookups++
			return "", nil
		},
		Downstream: "sink2", LookupTimeout: 400 * time.Millisecond, LookupRetry: 50 * time.Millisecond,
	})
	o := drive(t, c, header(0, false), nil, inputEnd(0))
	if st := status.Convert(o.err); st.Code() != codes.Unavailable || st.Message() != "aggregate: downstream sink2 is not registered with the topology" {
		t.Fatalf("got %v", o.err)
	}
	mu.Lock()
	defer mu.Unlock()
	if lookups < 3 {
		t.Fatalf("only %d lookups", lookups)
	}
}

func TestLookupFindsTheSink(t *testing.T) {
	sink := &fakeSink{done: make(chan struct{}, 1)}
	sinkAddr := serve(t, func(s *grpc.Server) { pb.RegisterSinkServiceServer(s, sink) })
	calls := 0
	c := newChain(t, sink, Config{Lookup: func(ctx context.Context, name string) (string, error) {
		calls++
		if calls < 3 { // not registered yet
			return "", nil
		}
		return sinkAddr, nil
	}, LookupRetry: 10 * time.Millisecond})
	batches, _ := makeBatches(1, 3, 10)
	o := drive(t, c, header(0, false), batches, inputEnd(len(batches)))
	if o.err != nil || o.complete == nil || calls != 3 {
		t.Fatalf("run: err %v, complete %v, %d lookups", o.err, o.complete, calls)
	}
}

func TestBadWindowSecondsRefused(t *testing.T) {
	c := newChain(t, &fakeSink{}, Config{})
	h := header(0, false)
	h.RulesJson = `{"windowSeconds":0}`
	o := drive(t, c, h, nil, nil)
	if st := status.Convert(o.err); st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), "windowSeconds") {
		t.Fatalf("got %v", o.err)
	}
}

func TestStreamEndingBeforeEndIsAborted(t *testing.T) {
	c := newChain(t, &fakeSink{}, Config{})
	batches, _ := makeBatches(2, 3, 10)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := c.client.Process(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_ = s.Send(&pb.StageRequest{Kind: &pb.StageRequest_Header{Header: header(0, false)}})
	for _, b := range batches {
		_ = s.Send(&pb.StageRequest{Kind: &pb.StageRequest_Batch{Batch: b}})
	}
	_ = s.CloseSend()
	for {
		_, err = s.Recv()
		if err != nil {
			break
		}
	}
	if st := status.Convert(err); st.Code() != codes.Aborted || st.Message() != "aggregate: the stream ended before End" {
		t.Fatalf("got %v", err)
	}
}

func TestUpstreamCancelCancelsTheSinkStream(t *testing.T) {
	sink := &fakeSink{}
	c := newChain(t, sink, Config{})
	batches, _ := makeBatches(4, 2, 10)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := c.client.Process(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_ = s.Send(&pb.StageRequest{Kind: &pb.StageRequest_Header{Header: header(2, false)}})
	for _, b := range batches {
		_ = s.Send(&pb.StageRequest{Kind: &pb.StageRequest_Batch{Batch: b}})
	}
	for range batches {
		if m, err := s.Recv(); err != nil || m.GetAck() == 0 {
			t.Fatalf("ack: %v %v", m, err)
		}
	}
	cancel()
	select {
	case <-sink.done:
	case <-time.After(5 * time.Second):
		t.Fatal("the sink's stream stayed open after the upstream cancelled")
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if status.Code(sink.streamErr) != codes.Canceled {
		t.Fatalf("sink stream ended with %v", sink.streamErr)
	}
}
