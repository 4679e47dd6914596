package stage

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/modular-runtime/aggregate/gen/pipeline/v1"
	"github.com/modular-runtime/aggregate/internal/agg"
	"github.com/modular-runtime/aggregate/internal/crash"
	"github.com/modular-runtime/aggregate/internal/testwire"
)

// ---- an upstream played by hand: barriers between batches, streams ended halfway ----------

type upstream struct {
	t        testing.TB
	stream   pb.AggregateService_ProcessClient
	cancel   context.CancelFunc
	credits  chan struct{}
	recvDone chan struct{}

	mu       sync.Mutex
	order    []string // "ack N" and "done N" as they arrived
	acks     []uint64
	dones    []uint64
	complete *pb.RunComplete
	err      error
}

func openUpstream(t testing.TB, c *chain, h *pb.RunHeader) *upstream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	stream, err := c.client.Process(ctx)
	if err != nil {
		t.Fatal(err)
	}
	u := &upstream{t: t, stream: stream, cancel: cancel, credits: make(chan struct{}, DefaultWindow), recvDone: make(chan struct{})}
	go func() {
		defer close(u.recvDone)
		for {
			m, err := stream.Recv()
			u.mu.Lock()
			if err != nil {
				if err != io.EOF {
					u.err = err
				}
				u.mu.Unlock()
				return
			}
			switch k := m.Kind.(type) {
			case *pb.StageResponse_Ack:
				u.acks = append(u.acks, k.Ack)
				u.order = append(u.order, fmt.Sprint("ack ", k.Ack))
				select {
				case <-u.credits:
				default:
				}
			case *pb.StageResponse_CheckpointDone:
				u.dones = append(u.dones, k.CheckpointDone)
				u.order = append(u.order, fmt.Sprint("done ", k.CheckpointDone))
			case *pb.StageResponse_Complete:
				u.complete = k.Complete
			}
			u.mu.Unlock()
		}
	}()
	if err := stream.Send(&pb.StageRequest{Kind: &pb.StageRequest_Header{Header: h}}); err != nil {
		t.Fatal(err)
	}
	return u
}

// send sends the messages; a batch waits for a send credit, a barrier takes none.
func (u *upstream) send(msgs ...*pb.StageRequest) bool {
	for _, m := range msgs {
		if m.GetBatch() != nil {
			select {
			case u.credits <- struct{}{}:
			case <-u.recvDone:
				return false
			}
		}
		if u.stream.Send(m) != nil {
			return false
		}
	}
	return true
}

// finish sends End and waits for the stream to end.
func (u *upstream) finish(end *pb.End) {
	_ = u.stream.Send(&pb.StageRequest{Kind: &pb.StageRequest_End{End: end}})
	_ = u.stream.CloseSend()
	u.wait()
}

func (u *upstream) wait() {
	select {
	case <-u.recvDone:
	case <-time.After(15 * time.Second):
		u.t.Fatal("the stream did not end")
	}
}

// waitUntil waits until cond holds for what has arrived.
func (u *upstream) waitUntil(what string, cond func(u *upstream) bool) {
	u.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		u.mu.Lock()
		ok := cond(u)
		u.mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			u.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// ---- helpers ----------------------------------------------------------------------------------

func batchMsg(b *pb.Batch) *pb.StageRequest {
	return &pb.StageRequest{Kind: &pb.StageRequest_Batch{Batch: b}}
}

func barrierMsg(n uint64) *pb.StageRequest {
	return &pb.StageRequest{Kind: &pb.StageRequest_Barrier{Barrier: &pb.Barrier{CheckpointId: n}}}
}

// script is the batches with Barrier at[k] after the first k of them.
func script(batches []*pb.Batch, at map[int]uint64) []*pb.StageRequest {
	var out []*pb.StageRequest
	for i := 0; i <= len(batches); i++ {
		if n, ok := at[i]; ok {
			out = append(out, barrierMsg(n))
		}
		if i < len(batches) {
			out = append(out, batchMsg(batches[i]))
		}
	}
	return out
}

func ckHeader(dir string, attempt uint32, resume uint64, partitions uint32) *pb.RunHeader {
	h := header(partitions, false)
	h.CheckpointDir, h.Attempt, h.ResumeCheckpoint = dir, attempt, resume
	return h
}

func resultParts(msgs []*pb.StageRequest) []*pb.ResultPart {
	var parts []*pb.ResultPart
	for _, m := range msgs {
		if p := m.GetResultPart(); p != nil {
			parts = append(parts, p)
		}
	}
	return parts
}

// checkGroups compares the groups of the parts with those of the events, folded the obvious way.
func checkGroups(t testing.TB, what string, parts []*pb.ResultPart, events [][]event) {
	t.Helper()
	_, got := decodeParts(t, parts)
	types, users, tags, windows := got.Types, got.Users, got.Tags, got.Windows
	wt, wu, wtag, ww := expected(events, 60)
	if !slices.Equal(types, wt) || !slices.Equal(users, wu) || !slices.Equal(tags, wtag) || !slices.Equal(windows, ww) {
		t.Errorf("%s: groups differ: got %d/%d/%d/%d (types/users/tags/windows), want %d/%d/%d/%d", what,
			len(types), len(users), len(tags), len(windows), len(wt), len(wu), len(wtag), len(ww))
	}
}

func countEvents(events [][]event) (n uint64) {
	for _, e := range events {
		n += uint64(len(e))
	}
	return n
}

func snapPath(dir string, n uint64) string {
	return filepath.Join(dir, fmt.Sprintf("aggregate-%d.snap", n))
}

// describe names the messages: "header", "batch 3", "barrier 1", "part", "end".
func describe(msgs []*pb.StageRequest) []string {
	var out []string
	for _, m := range msgs {
		switch k := m.Kind.(type) {
		case *pb.StageRequest_Header:
			out = append(out, "header")
		case *pb.StageRequest_Batch:
			out = append(out, fmt.Sprint("batch ", k.Batch.GetMeta().GetTraceId()))
		case *pb.StageRequest_Barrier:
			out = append(out, fmt.Sprint("barrier ", k.Barrier.GetCheckpointId()))
		case *pb.StageRequest_ResultPart:
			out = append(out, "part")
		case *pb.StageRequest_End:
			out = append(out, "end")
		}
	}
	return out
}

// ---- tests --------------------------------------------------------------------------------------

func TestBarriersAreSyncPointsForwardedInOrder(t *testing.T) {
	dir := t.TempDir()
	var mu sync.Mutex
	snaps := map[uint64][]byte{}
	sink := &fakeSink{doneOnBarrier: true}
	sink.onBarrier = func(n uint64) {
		b, err := os.ReadFile(snapPath(dir, n))
		if err != nil {
			t.Errorf("barrier %d reached the sink before its snapshot was in place: %v", n, err)
		}
		mu.Lock()
		snaps[n] = b
		mu.Unlock()
	}
	c := newChain(t, sink, Config{Partitions: 2})
	batches, events := makeBatches(21, 20, 200)
	// Barrier n after the first k batches: before any, and after the last.
	at := map[int]uint64{0: 1, 3: 2, 8: 3, 15: 4, 20: 5}
	u := openUpstream(t, c, ckHeader(dir, 1, 0, 3))
	u.send(script(batches, at)...)
	u.finish(inputEnd(len(batches)))
	if u.err != nil || u.complete == nil {
		t.Fatalf("run: %v", u.err)
	}
	if want := []uint64{1, 2, 3, 4, 5}; !slices.Equal(u.dones, want) {
		t.Fatalf("checkpoint_done upstream: %v, want %v", u.dones, want)
	}
	if len(u.acks) != len(batches) {
		t.Fatalf("%d acks for %d batches", len(u.acks), len(batches))
	}

	// The sink got everything in the order it was sent, the barriers between the same batches.
	got := describe(sink.streams[0])
	want := append([]string{"header"}, describe(script(batches, at))...)
	if len(got) < len(want)+1 || !slices.Equal(got[:len(want)], want) {
		t.Fatalf("the sink got\n %v\nwant first\n %v", got, want)
	}
	for _, m := range got[len(want) : len(got)-1] {
		if m != "part" {
			t.Fatalf("after the last barrier: %v", got[len(want):])
		}
	}
	checkGroups(t, "results", resultParts(sink.streams[0]), events)

	// Each snapshot holds exactly the batches before its barrier.
	for k, n := range at {
		mu.Lock()
		data := snaps[n]
		mu.Unlock()
		s, err := agg.DecodeSnapshot(data)
		if err != nil {
			t.Fatalf("snapshot %d: %v", n, err)
		}
		if s.RunID != "run-1" || s.Checkpoint != n || s.WindowSeconds != 60 || s.LastTrace != uint64(k) || s.Batches != uint64(k) || s.Events != countEvents(events[:k]) {
			t.Fatalf("snapshot %d: %+v, want the state after %d batches", n, s.SnapshotMeta, k)
		}
		a := agg.New(context.Background(), 4, 60)
		if err := a.Restore(s); err != nil {
			t.Fatal(err)
		}
		var parts []*pb.ResultPart
		if _, _, err := a.Results(agg.MaxGroupsPerPart, agg.MaxPartBytes, func(p *pb.ResultPart) error { parts = append(parts, p); return nil }); err != nil {
			t.Fatal(err)
		}
		checkGroups(t, fmt.Sprintf("snapshot %d", n), parts, events[:k])
	}
	if got, want := testwire.DirFiles(t, dir), []string{"aggregate-3.snap", "aggregate-4.snap", "aggregate-5.snap"}; !slices.Equal(got, want) {
		t.Fatalf("checkpoint dir holds %v, want %v", got, want)
	}
}

func TestResumeGivesTheUninterruptedResults(t *testing.T) {
	batches, events := makeBatches(33, 30, 300)
	ref := &fakeSink{}
	if o := drive(t, newChain(t, ref, Config{}), header(3, false), batches, inputEnd(len(batches))); o.err != nil || o.complete == nil {
		t.Fatalf("uninterrupted run: %v", o.err)
	}
	refParts := resultParts(ref.streams[0])
	checkGroups(t, "uninterrupted", refParts, events)

	dir := t.TempDir()
	// Attempt 1 (2 partitions): barriers after 5 and 10 batches, then its upstream breaks
	// after batch 12.
	sink1 := &fakeSink{doneOnBarrier: true}
	u1 := openUpstream(t, newChain(t, sink1, Config{}), ckHeader(dir, 1, 0, 2))
	u1.send(script(batches[:12], map[int]uint64{5: 1, 10: 2})...)
	u1.waitUntil("12 acks and checkpoint 2", func(u *upstream) bool { return len(u.acks) == 12 && len(u.dones) == 2 })
	u1.cancel()
	u1.wait()

	// Attempt 2, in another process with 5 partitions: from checkpoint 2, the batches after
	// it (the same trace ids), one more barrier.
	sink2 := &fakeSink{doneOnBarrier: true}
	u2 := openUpstream(t, newChain(t, sink2, Config{}), ckHeader(dir, 2, 2, 5))
	u2.send(script(batches[10:], map[int]uint64{10: 3})...)
	u2.finish(inputEnd(len(batches)))
	if u2.err != nil || u2.complete == nil || !slices.Equal(u2.dones, []uint64{3}) || len(u2.acks) != 20 || u2.acks[0] != 11 {
		t.Fatalf("attempt 2: err %v, complete %v, dones %v, acks %v", u2.err, u2.complete, u2.dones, u2.acks)
	}
	parts := resultParts(sink2.streams[0])
	if !bytes.Equal(testwire.Parts(t, parts), testwire.Parts(t, refParts)) {
		checkGroups(t, "resumed", parts, events)
		t.Fatal("the resumed run's ResultParts differ from the uninterrupted run's")
	}
	// StageMetrics describe the final attempt.
	msgs := sink2.streams[0]
	m := msgs[len(msgs)-1].GetEnd().GetStages()[3]
	if m.Stage != "aggregate" || m.BatchesIn != 20 || m.EventsIn != countEvents(events[10:]) {
		t.Fatalf("attempt 2 metrics %v", m)
	}
	// The snapshot of checkpoint 3 counts the batches of both attempts.
	data, err := os.ReadFile(snapPath(dir, 3))
	if err != nil {
		t.Fatal(err)
	}
	s, err := agg.DecodeSnapshot(data)
	if err != nil || s.Batches != 20 || s.LastTrace != 20 || s.Events != countEvents(events[:20]) {
		t.Fatalf("snapshot 3: %+v, %v", s, err)
	}
}

func TestResumeFromAMissingOrCorruptCheckpointFails(t *testing.T) {
	dir := t.TempDir()
	sink := &fakeSink{}
	c := newChain(t, sink, Config{})
	expectFailure := func(h *pb.RunHeader, want string) {
		t.Helper()
		o := drive(t, c, h, nil, inputEnd(0))
		if st := status.Convert(o.err); st.Code() != codes.FailedPrecondition || st.Message() != want {
			t.Fatalf("got %v\nwant FailedPrecondition %q", o.err, want)
		}
	}
	expectFailure(ckHeader(dir, 2, 4, 0), "aggregate: checkpoint 4 of run run-1 not found in "+dir)
	if got := sink.messages(); len(got) != 0 {
		t.Fatalf("the sink got %d messages from a run that could not resume", len(got))
	}
	h := ckHeader("", 2, 4, 0)
	expectFailure(h, "aggregate: checkpoint 4 of run run-1 not found: the header has no checkpoint_dir")

	if err := os.WriteFile(snapPath(dir, 4), []byte(`{"checkpoint":4}`), 0o644); err != nil {
		t.Fatal(err)
	}
	expectFailure(ckHeader(dir, 2, 4, 0), "aggregate: checkpoint 4 of run run-1 is corrupt: "+snapPath(dir, 4)+": not an aggregate snapshot (no MRAGSNP1 header)")

	// A real snapshot, of checkpoint 1, under the name of checkpoint 4.
	batches, _ := makeBatches(3, 4, 20)
	u := openUpstream(t, c, ckHeader(dir, 1, 0, 0))
	u.send(script(batches, map[int]uint64{2: 1})...)
	u.finish(inputEnd(len(batches)))
	data, err := os.ReadFile(snapPath(dir, 1))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(snapPath(dir, 4), data, 0o644); err != nil {
		t.Fatal(err)
	}
	expectFailure(ckHeader(dir, 2, 4, 0), "aggregate: checkpoint 4 of run run-1 is corrupt: "+snapPath(dir, 4)+": it holds checkpoint 1 of run run-1")
	data[len(data)-1] ^= 1
	if err := os.WriteFile(snapPath(dir, 1), data, 0o644); err != nil {
		t.Fatal(err)
	}
	o := drive(t, c, ckHeader(dir, 2, 1, 0), nil, inputEnd(0))
	if st := status.Convert(o.err); st.Code() != codes.FailedPrecondition || !bytes.Contains([]byte(st.Message()), []byte("is corrupt: "+snapPath(dir, 1)+": checksum mismatch")) {
		t.Fatalf("damaged snapshot: %v", o.err)
	}
	// Rules with other windows than the snapshot's.
	data[len(data)-1] ^= 1
	_ = os.WriteFile(snapPath(dir, 1), data, 0o644)
	h = ckHeader(dir, 2, 1, 0)
	h.RulesJson = `{"windowSeconds":3600}`
	expectFailure(h, "aggregate: checkpoint 1 of run run-1 was saved with windowSeconds 60, but the rules have 3600")
}

func TestOnlyTheThreeNewestSnapshotsAreKept(t *testing.T) {
	dir := t.TempDir()
	// Left over: a snapshot of an abandoned attempt, and a killed process's temporary file.
	for _, name := range []string{"aggregate-9.snap", "aggregate-2.snap.tmp-77"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("old"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c := newChain(t, &fakeSink{doneOnBarrier: true}, Config{})
	batches, events := makeBatches(8, 14, 50)
	u := openUpstream(t, c, ckHeader(dir, 1, 0, 2))
	u.send(script(batches[:12], map[int]uint64{2: 1, 4: 2, 6: 3, 8: 4, 10: 5, 12: 6})...)
	u.waitUntil("checkpoint 6", func(u *upstream) bool { return len(u.dones) == 6 })
	if got, want := testwire.DirFiles(t, dir), []string{"aggregate-4.snap", "aggregate-5.snap", "aggregate-6.snap"}; !slices.Equal(got, want) {
		t.Fatalf("after 6 barriers the dir holds %v, want %v", got, want)
	}
	u.cancel()
	u.wait()

	// Attempt 2 resumes from 5: the 6 of attempt 1 is another history and goes.
	sink2 := &fakeSink{doneOnBarrier: true}
	u2 := openUpstream(t, newChain(t, sink2, Config{}), ckHeader(dir, 2, 5, 2))
	u2.send(script(batches[10:], map[int]uint64{2: 7})...)
	u2.finish(inputEnd(len(batches)))
	if u2.err != nil || u2.complete == nil {
		t.Fatalf("attempt 2: %v", u2.err)
	}
	if got, want := testwire.DirFiles(t, dir), []string{"aggregate-4.snap", "aggregate-5.snap", "aggregate-7.snap"}; !slices.Equal(got, want) {
		t.Fatalf("after attempt 2 the dir holds %v, want %v", got, want)
	}
	checkGroups(t, "attempt 2", resultParts(sink2.streams[0]), events)
}

func TestANewAttemptEndsTheOlderStream(t *testing.T) {
	sink := &fakeSink{}
	c := newChain(t, sink, Config{})
	batches, events := makeBatches(44, 6, 100)
	dir := t.TempDir()
	a := openUpstream(t, c, ckHeader(dir, 1, 0, 2))
	a.send(batchMsg(batches[0]), batchMsg(batches[1]), barrierMsg(1), batchMsg(batches[2]))
	a.waitUntil("3 acks", func(u *upstream) bool { return len(u.acks) == 3 })

	// Attempt 2 of the same run starts from scratch while attempt 1's upstream is still open.
	b := openUpstream(t, c, ckHeader(dir, 2, 0, 2))
	a.wait()
	if st := status.Convert(a.err); st.Code() != codes.Aborted || st.Message() != "aggregate: attempt 2 of run run-1 replaced this stream" {
		t.Fatalf("attempt 1 ended with %v", a.err)
	}
	// An attempt older than the running one is refused, and does not disturb it.
	o := drive(t, c, ckHeader(dir, 1, 0, 2), nil, nil)
	if st := status.Convert(o.err); st.Code() != codes.FailedPrecondition || st.Message() != "aggregate: attempt 1 of run run-1 arrived after attempt 2" {
		t.Fatalf("late attempt 1: %v", o.err)
	}

	b.send(script(batches[3:], map[int]uint64{1: 1})...)
	b.finish(inputEnd(len(batches)))
	if b.err != nil || b.complete == nil {
		t.Fatalf("attempt 2: %v", b.err)
	}
	sink.mu.Lock()
	streams := slices.Clone(sink.streams)
	sink.mu.Unlock()
	if len(streams) != 2 {
		t.Fatalf("the sink saw %d streams, want 2", len(streams))
	}
	// Attempt 1's sink stream got nothing after the new header arrived: no more batches, no
	// results, no End.
	if got, want := describe(streams[0]), []string{"header", "batch 1", "batch 2", "barrier 1", "batch 3"}; !slices.Equal(got, want) {
		t.Fatalf("attempt 1's sink stream got %v, want %v", got, want)
	}
	// Attempt 2 kept nothing of attempt 1's state: its results are its own batches only.
	checkGroups(t, "attempt 2", resultParts(streams[1]), events[3:])
}

func TestCheckpointDoneIsPassedUpAtOnce(t *testing.T) {
	// The sink acks each batch 300 ms late and answers the barrier at once. After 8 batches
	// the handler waits for send credit for batch 9: checkpoint_done must not wait behind it.
	sink := &fakeSink{doneOnBarrier: true, ackDelay: 300 * time.Millisecond}
	c := newChain(t, sink, Config{})
	batches, _ := makeBatches(6, 12, 50)
	u := openUpstream(t, c, ckHeader(t.TempDir(), 1, 0, 0))
	u.send(script(batches, map[int]uint64{8: 1})...)
	u.finish(inputEnd(len(batches)))
	if u.err != nil || u.complete == nil {
		t.Fatalf("run: %v", u.err)
	}
	done, ack9 := slices.Index(u.order, "done 1"), slices.Index(u.order, "ack 9")
	if len(u.order) != 13 || done < 0 || done > ack9 {
		t.Fatalf("upstream got %v, want done 1 before ack 9", u.order)
	}
}

func TestBarriersWithoutSnapshotsAreForwarded(t *testing.T) {
	batches, _ := makeBatches(12, 6, 40)
	at := map[int]uint64{2: 1, 5: 2}
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		h    *pb.RunHeader
	}{
		{"pass-through", func() *pb.RunHeader { h := header(0, true); h.CheckpointDir = dir; return h }()},
		{"no checkpoint_dir", ckHeader("", 1, 0, 0)},
	} {
		sink := &fakeSink{doneOnBarrier: true}
		u := openUpstream(t, newChain(t, sink, Config{}), tc.h)
		u.send(script(batches, at)...)
		u.finish(inputEnd(len(batches)))
		if u.err != nil || u.complete == nil || !slices.Equal(u.dones, []uint64{1, 2}) {
			t.Fatalf("%s: err %v, dones %v", tc.name, u.err, u.dones)
		}
		want := append([]string{"header"}, describe(script(batches, at))...)
		if got := describe(sink.streams[0]); !slices.Equal(got[:len(want)], want) {
			t.Fatalf("%s: the sink got %v", tc.name, got)
		}
	}
	if files := testwire.DirFiles(t, dir); len(files) != 0 {
		t.Fatalf("pass-through wrote %v", files)
	}
}

func TestBarrierIdsMustIncrease(t *testing.T) {
	batches, _ := makeBatches(2, 4, 10)
	for _, tc := range []struct {
		at   map[int]uint64
		want string
	}{
		{map[int]uint64{1: 2, 3: 2}, "aggregate: barrier 2 after checkpoint 2: checkpoint ids must increase"},
		{map[int]uint64{0: 0}, "aggregate: barrier 0 after checkpoint 0: checkpoint ids must increase"},
	} {
		u := openUpstream(t, newChain(t, &fakeSink{}, Config{}), ckHeader(t.TempDir(), 1, 0, 0))
		u.send(script(batches, tc.at)...)
		u.finish(inputEnd(len(batches)))
		if st := status.Convert(u.err); st.Code() != codes.InvalidArgument || st.Message() != tc.want {
			t.Fatalf("got %v, want %q", u.err, tc.want)
		}
	}
}

func TestCrashPointsAreTakenAtTheirEdge(t *testing.T) {
	for _, point := range []string{crash.Barrier, crash.Saved} {
		t.Run(point, func(t *testing.T) {
			dir := t.TempDir()
			p, err := crash.Parse(point+":2", filepath.Join(t.TempDir(), "crashed"))
			if err != nil {
				t.Fatal(err)
			}
			sink := &fakeSink{doneOnBarrier: true}
			var mu sync.Mutex
			var kills []string
			p.Kill = func() { // in the real process this never returns
				_, statErr := os.Stat(snapPath(dir, 2))
				forwarded := slices.Contains(describe(sink.messages()), "barrier 2")
				mu.Lock()
				kills = append(kills, fmt.Sprintf("snapshot in place %v, barrier forwarded %v", statErr == nil, forwarded))
				mu.Unlock()
			}
			c := newChain(t, sink, Config{Crash: p})
			batches, _ := makeBatches(5, 6, 30)
			for range 2 { // the marker exists after the first run: the second does not crash
				u := openUpstream(t, c, ckHeader(dir, 1, 0, 0))
				u.send(script(batches, map[int]uint64{1: 1, 3: 2, 5: 3})...)
				u.finish(inputEnd(len(batches)))
				if u.err != nil {
					t.Fatal(u.err)
				}
			}
			want := []string{"snapshot in place false, barrier forwarded false"}
			if point == crash.Saved {
				want = []string{"snapshot in place true, barrier forwarded false"}
			}
			mu.Lock()
			defer mu.Unlock()
			if !slices.Equal(kills, want) {
				t.Fatalf("kills %v, want %v", kills, want)
			}
		})
	}
}
