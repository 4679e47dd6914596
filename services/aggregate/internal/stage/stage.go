// Package stage serves AggregateService.Process: one run per inbound stream, folded by an
// agg.Aggregator and forwarded to the downstream SinkService (services/PIPELINE.md).
package stage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	pb "github.com/modular-runtime/aggregate/gen/pipeline/v1"
	"github.com/modular-runtime/aggregate/internal/agg"
	"github.com/modular-runtime/aggregate/internal/checkpoint"
	"github.com/modular-runtime/aggregate/internal/control"
	"github.com/modular-runtime/aggregate/internal/crash"
	"github.com/modular-runtime/aggregate/internal/frame"
	"github.com/modular-runtime/aggregate/internal/logx"
	"github.com/modular-runtime/aggregate/internal/proc"
)

// MaxMessageBytes is the largest message the stage accepts or sends (64 MiB).
const MaxMessageBytes = 64 << 20

// DefaultWindow is the number of batches that may be sent downstream and not yet acknowledged.
const DefaultWindow = 8

// StageKind is the StageMetrics.stage value; Language its language.
const (
	StageKind = "aggregate"
	Language  = "go"
)

// SinkMethod is the method named in activity reports for the aggregate → sink edge.
const SinkMethod = "pipeline.v1.SinkService/Process"

// SnapshotPrefix names the snapshot files: <checkpoint_dir>/aggregate-<N>.snap.
const SnapshotPrefix = "aggregate"

// takeOverWait bounds how long a new attempt of a run waits for the older stream it ends.
const takeOverWait = 10 * time.Second

// Config configures the service.
type Config struct {
	Name       string // stage name used in messages (default "aggregate")
	Downstream string // downstream service name (default "sink")
	Partitions int    // default partitions when the header has none (default 1)
	// DownstreamAddress skips the topology lookup (tests).
	DownstreamAddress string
	// Lookup resolves a service name to the address of its newest instance ("" when none).
	Lookup        func(ctx context.Context, name string) (string, error)
	Reporter      *control.Reporter // activity reports; may be nil
	Log           *logx.Logger      // may be nil
	Window        int               // default DefaultWindow
	LookupTimeout time.Duration     // default 30 s
	LookupRetry   time.Duration     // default 100 ms
	Crash         *crash.Point      // MR_CRASH_AT; nil: none
	// FitProcs sets GOMAXPROCS to the partitions of the folding runs in progress (the most of
	// them, at most the CPUs): one partition then runs on one thread, without the wake-ups of
	// idle threads between batches that cost more CPU than the folding itself (main sets it
	// unless the GOMAXPROCS variable is set).
	FitProcs bool
}

// Server implements pipeline.v1.AggregateService.
type Server struct {
	pb.UnimplementedAggregateServiceServer
	cfg   Config
	mu    sync.Mutex
	conns map[string]*grpc.ClientConn

	runsMu sync.Mutex
	runs   map[string]*run // by run id: the stream of each run's latest attempt

	procs procFit
}

// procFit keeps GOMAXPROCS at the most partitions among the folding runs in progress (at most
// the CPUs), so a run that starts with fewer partitions does not take threads from one still
// folding with more.
type procFit struct {
	mu     sync.Mutex
	active map[int]int // partitions → folding runs with that many
}

// fold counts a run folding with `partitions` until the returned func is called.
func (f *procFit) fold(partitions int) (done func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.active == nil {
		f.active = map[int]int{}
	}
	f.active[partitions]++
	f.apply()
	return func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.active[partitions]--; f.active[partitions] == 0 {
			delete(f.active, partitions)
		}
		f.apply()
	}
}

func (f *procFit) apply() {
	most := 0
	for p := range f.active {
		most = max(most, p)
	}
	if most > 0 { // with no run folding, the last setting stays
		runtime.GOMAXPROCS(min(most, runtime.NumCPU()))
	}
}

// New returns a server with defaults filled in.
func New(cfg Config) *Server {
	if cfg.Name == "" {
		cfg.Name = "aggregate"
	}
	if cfg.Downstream == "" {
		cfg.Downstream = "sink"
	}
	if cfg.Partitions <= 0 {
		cfg.Partitions = 1
	}
	if cfg.Window <= 0 {
		cfg.Window = DefaultWindow
	}
	if cfg.LookupTimeout <= 0 {
		cfg.LookupTimeout = 30 * time.Second
	}
	if cfg.LookupRetry <= 0 {
		cfg.LookupRetry = 100 * time.Millisecond
	}
	return &Server{cfg: cfg, conns: map[string]*grpc.ClientConn{}, runs: map[string]*run{}}
}

// claim makes r the stream of its run and returns the older stream it replaces, if any; or,
// when the stream already there is of a later attempt, returns that one and refuses r.
func (s *Server) claim(r *run) (older *run, refused bool) {
	s.runsMu.Lock()
	defer s.runsMu.Unlock()
	old := s.runs[r.runID]
	if old != nil && old.attempt > r.attempt {
		return old, true
	}
	s.runs[r.runID] = r
	return old, false
}

// release forgets r when it is still its run's stream.
func (s *Server) release(r *run) {
	s.runsMu.Lock()
	defer s.runsMu.Unlock()
	if s.runs[r.runID] == r {
		delete(s.runs, r.runID)
	}
}

// ServerOptions are the gRPC server options the stage needs: 64 MiB messages, and the codec
// that hands batches over undecoded (frame.Codec; protobuf for everything else).
func ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{grpc.MaxRecvMsgSize(MaxMessageBytes), grpc.MaxSendMsgSize(MaxMessageBytes), grpc.ForceServerCodecV2(frame.Codec{})}
}

// Close closes the downstream connections.
func (s *Server) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for a, c := range s.conns {
		_ = c.Close()
		delete(s.conns, a)
	}
}

func (s *Server) conn(addr string) (*grpc.ClientConn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.conns[addr]; ok {
		return c, nil
	}
	c, err := grpc.NewClient(addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxMessageBytes), grpc.MaxCallSendMsgSize(MaxMessageBytes)))
	if err != nil {
		return nil, err
	}
	s.conns[addr] = c
	return c, nil
}

// prune closes the connections to other addresses that are not ready (a downstream that
// restarted elsewhere); a ready one may still carry another run's stream.
func (s *Server) prune(keep string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for a, c := range s.conns {
		if a != keep && c.GetState() != connectivity.Ready {
			_ = c.Close()
			delete(s.conns, a)
		}
	}
}

// connect finds the downstream and waits until its connection is ready, retrying every
// LookupRetry for up to LookupTimeout.
func (s *Server) connect(ctx context.Context) (*grpc.ClientConn, string, error) {
	name := s.cfg.Downstream
	deadline := time.Now().Add(s.cfg.LookupTimeout)
	lastErr, unreachable := "", ""
	for {
		addr := s.cfg.DownstreamAddress
		if addr == "" && s.cfg.Lookup != nil {
			lctx, cancel := context.WithTimeout(ctx, min(5*time.Second, max(500*time.Millisecond, time.Until(deadline))))
			a, err := s.cfg.Lookup(lctx, name)
			cancel()
			addr, lastErr = a, ""
			if err != nil {
				lastErr = err.Error()
			}
		}
		if addr != "" {
			c, err := s.conn(addr)
			if err != nil {
				return nil, "", status.Errorf(codes.InvalidArgument, "%s: downstream %s has a bad address %q: %v", s.cfg.Name, name, addr, err)
			}
			if waitReady(ctx, c, min(2*time.Second, max(200*time.Millisecond, time.Until(deadline)))) {
				s.prune(addr)
				return c, addr, nil
			}
			unreachable = addr
		}
		if ctx.Err() != nil {
			return nil, "", status.FromContextError(ctx.Err()).Err()
		}
		if time.Now().After(deadline) {
			if unreachable != "" {
				return nil, "", status.Errorf(codes.Unavailable, "%s: downstream %s at %s is not reachable", s.cfg.Name, name, unreachable)
			}
			why := ""
			if lastErr != "" {
				why = " (topology lookup failed: " + lastErr + ")"
			}
			return nil, "", status.Errorf(codes.Unavailable, "%s: downstream %s is not registered with the topology%s", s.cfg.Name, name, why)
		}
		t := time.NewTimer(s.cfg.LookupRetry)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
}

func waitReady(ctx context.Context, c *grpc.ClientConn, timeout time.Duration) bool {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c.Connect()
	for {
		st := c.GetState()
		if st == connectivity.Ready {
			return true
		}
		if !c.WaitForStateChange(ctx, st) {
			return false
		}
	}
}

// Process serves one run.
func (s *Server) Process(up pb.AggregateService_ProcessServer) error {
	r := &run{s: s, cfg: &s.cfg, up: up, t0: time.Now(), cpu0: proc.CPUSeconds(), sent: map[uint64]sentBatch{}, done: make(chan struct{})}
	defer close(r.done)
	return r.serve()
}

// item is one entry of the ordered queue: a batch, a barrier or End.
type item struct {
	trace   uint64     // a batch's trace id
	out     *frame.Out // a batch's message to D: without its payload, or unchanged (pass-through)
	in      *frame.In  // the received message a batch's fold reads: freed once it is folded
	job     *agg.Job   // the batch's fold, or the barrier's snapshot
	events  int
	end     *pb.End
	barrier *pb.Barrier
	meta    agg.SnapshotMeta // for a barrier's snapshot
}

type sentBatch struct {
	at     time.Time
	events int
}

// run is one Process stream. Three goroutines: readUp (inbound messages → partitions and the
// ordered queue), the handler's own (forwards in order: batches and barriers to D, writing the
// snapshots, acks upstream, End and RunComplete) and readDown (acks and RunComplete from D;
// checkpoint_done it passes upstream itself).
type run struct {
	s       *Server
	cfg     *Config
	up      pb.AggregateService_ProcessServer
	down    pb.SinkService_ProcessClient
	ctx     context.Context
	cancel  context.CancelFunc
	done    chan struct{} // closed when the handler has returned
	runID   string
	attempt uint32
	pass    bool
	agg     *agg.Aggregator
	// Checkpoints: the snapshot files (nil when the run keeps none: no checkpoint_dir, or
	// pass-through), what the snapshot resumed from recorded, the last barrier taken.
	store       *checkpoint.Store
	restored    agg.SnapshotMeta
	lastBarrier uint64
	// upMu serialises sends upstream: acks and RunComplete from the handler, checkpoint_done
	// from readDown; upClosed is set once the handler returns, after which nothing is sent.
	upMu     sync.Mutex
	upClosed bool

	queue    chan item
	credits  chan struct{}
	complete chan *pb.RunComplete

	errMu sync.Mutex
	err   error

	sentMu sync.Mutex
	sent   map[uint64]sentBatch

	t0   time.Time
	cpu0 float64
	// Written by readUp, read by the handler after it took End off the queue.
	upWaitNs, dispatchNs int64
	batchesIn, eventsIn  uint64
	lastTrace            uint64
	// Written by the handler goroutine: time building messages and merging (forwardNs), and
	// time blocked on D (credit, and sends held up by flow control).
	creditWaitNs, sendNs, forwardNs int64
	batchesOut, eventsOut           uint64
	checkpoints                     int
	checkpointNs, snapshotBytes     int64
	pruneErr                        error
}

// fail records the run's error (the first one wins) and ends the run.
func (r *run) fail(code codes.Code, format string, args ...any) {
	r.errMu.Lock()
	if r.err == nil {
		r.err = status.Errorf(code, format, args...)
	}
	r.errMu.Unlock()
	r.cancel()
}

// failure is what the handler returns once the run's context has ended.
func (r *run) failure() error {
	if err := r.up.Context().Err(); err != nil {
		return status.FromContextError(err).Err() // the upstream went away: forget the run
	}
	r.errMu.Lock()
	defer r.errMu.Unlock()
	if r.err != nil {
		return r.err
	}
	return status.Errorf(codes.Canceled, "%s: run cancelled", r.cfg.Name)
}

func kindName(m *pb.StageRequest) string {
	switch m.GetKind().(type) {
	case *pb.StageRequest_Header:
		return "a RunHeader"
	case *pb.StageRequest_Batch:
		return "a Batch"
	case *pb.StageRequest_ResultPart:
		return "a ResultPart"
	case *pb.StageRequest_End:
		return "an End"
	case *pb.StageRequest_Barrier:
		return "a Barrier"
	}
	return "an empty message"
}

func (r *run) serve() error {
	name := r.cfg.Name
	r.ctx, r.cancel = context.WithCancel(r.up.Context())
	defer r.cancel()
	defer func() { // the stream is not to be used once the handler has returned
		r.upMu.Lock()
		r.upClosed = true
		r.upMu.Unlock()
	}()
	t := time.Now()
	first, err := r.up.Recv()
	r.upWaitNs += int64(time.Since(t))
	if err == io.EOF {
		return nil
	}
	if err != nil {
		return err
	}
	h := first.GetHeader()
	if h == nil {
		return status.Errorf(codes.FailedPrecondition, "%s: the first message must be a RunHeader, got %s", name, kindName(first))
	}
	r.runID, r.attempt, r.pass = h.GetRunId(), h.GetAttempt(), h.GetPassthrough()
	var windowSeconds int64
	if !r.pass {
		if windowSeconds, err = agg.WindowSeconds(h.GetRulesJson()); err != nil {
			return status.Errorf(codes.InvalidArgument, "%s: %v", name, err)
		}
	}
	partitions := r.cfg.Partitions
	if h.GetPartitions() > 0 {
		partitions = int(min(h.GetPartitions(), agg.MaxPartitions))
	}
	if err := r.takeOver(); err != nil {
		return err
	}
	defer r.s.release(r)
	log := r.cfg.Log
	fields := map[string]any{"downstream": r.cfg.Downstream, "passthrough": r.pass}
	if !r.pass {
		fields["partitions"], fields["windowSeconds"] = partitions, windowSeconds
	}
	if h.GetCheckpointDir() != "" {
		fields["checkpointDir"], fields["attempt"], fields["resumeCheckpoint"] = h.GetCheckpointDir(), h.GetAttempt(), h.GetResumeCheckpoint()
	}
	log.Info(r.runID, "run started", fields)

	if !r.pass {
		if r.cfg.FitProcs {
			defer r.s.procs.fold(partitions)()
		}
		r.agg = agg.New(r.ctx, partitions, windowSeconds)
		if dir := h.GetCheckpointDir(); dir != "" {
			r.store = checkpoint.New(dir, SnapshotPrefix, h.GetResumeCheckpoint())
			// No other stream of the run is left (takeOver): a temporary file is a killed
			// process's.
			_ = r.store.RemoveTemps()
		}
		if n := h.GetResumeCheckpoint(); n > 0 {
			if err := r.restore(n); err != nil {
				log.Warn(r.runID, "run failed: "+status.Convert(err).Message(), nil)
				return err
			}
		}
	}
	r.lastBarrier = h.GetResumeCheckpoint()

	conn, addr, err := r.s.connect(r.ctx)
	if err != nil {
		log.Warn(r.runID, "run failed: "+status.Convert(err).Message(), nil)
		return err
	}
	r.down, err = pb.NewSinkServiceClient(conn).Process(r.ctx, grpc.ForceCodecV2(frame.Codec{}))
	if err == nil {
		err = r.down.Send(first) // the header, unchanged
	}
	if err != nil {
		if err == io.EOF {
			_, err = r.down.Recv()
		}
		st := status.Convert(err)
		log.Warn(r.runID, "run failed: "+st.Message(), nil)
		return status.Errorf(st.Code(), "%s: %s failed: %s", name, r.cfg.Downstream, st.Message())
	}

	r.queue = make(chan item, 2*r.cfg.Window)
	r.credits = make(chan struct{}, r.cfg.Window)
	r.complete = make(chan *pb.RunComplete, 1)
	go r.readDown()
	go r.readUp()
	err = r.forward()
	took := time.Since(r.t0).Seconds()
	if err != nil {
		log.Warn(r.runID, "run failed: "+status.Convert(err).Message(), map[string]any{"batches": r.batchesOut, "seconds": took})
	} else {
		fields := map[string]any{"downstreamAddress": addr, "busyNs": r.busyNs(), "waitNs": r.waitNs(), "foldNs": r.foldNs(),
			"checkNs": r.dispatchNs, "forwardNs": r.forwardNs, "upWaitNs": r.upWaitNs, "creditWaitNs": r.creditWaitNs, "sendNs": r.sendNs}
		if r.store != nil {
			fields["checkpoints"], fields["checkpointNs"], fields["lastSnapshotBytes"] = r.checkpoints, r.checkpointNs, r.snapshotBytes
			fields["batchesTotal"], fields["eventsTotal"] = r.restored.Batches+r.batchesIn, r.restored.Events+r.eventsIn
			if r.pruneErr != nil {
				fields["pruneError"] = r.pruneErr.Error()
			}
		}
		log.Info(r.runID, fmt.Sprintf("run finished: %d batches, %d events folded in %.3f s", r.batchesOut, r.eventsOut, took), fields)
	}
	return err
}

// takeOver ends the older stream of the same run, if this process still has one (an
// earlier attempt whose upstream has not broken yet): it is cancelled, keeps none of its
// state and sends nothing more downstream; its handler has returned when takeOver does, so it
// writes no snapshot either. A stream of a later attempt is not ended: this one is refused.
func (r *run) takeOver() error {
	old, refused := r.s.claim(r)
	if refused {
		return status.Errorf(codes.FailedPrecondition, "%s: attempt %d of run %s arrived after attempt %d", r.cfg.Name, r.attempt, r.runID, old.attempt)
	}
	if old == nil {
		return nil
	}
	old.fail(codes.Aborted, "%s: attempt %d of run %s replaced this stream", r.cfg.Name, r.attempt, r.runID)
	t := time.NewTimer(takeOverWait)
	defer t.Stop()
	select {
	case <-old.done:
	case <-r.ctx.Done():
		r.s.release(r)
		return r.failure()
	case <-t.C:
		// Its handler is stuck in a send upstream; cancelled, it cannot send downstream or
		// rename a snapshot any more.
		r.cfg.Log.Warn(r.runID, fmt.Sprintf("the stream of attempt %d did not end within %s", old.attempt, takeOverWait), nil)
	}
	return nil
}

// restore loads the snapshot of checkpoint n into the new aggregator, before any batch.
func (r *run) restore(n uint64) error {
	name := r.cfg.Name
	if r.store == nil {
		return status.Errorf(codes.FailedPrecondition, "%s: checkpoint %d of run %s not found: the header has no checkpoint_dir", name, n, r.runID)
	}
	path := r.store.Path(n)
	data, err := r.store.Load(n)
	if errors.Is(err, fs.ErrNotExist) {
		return status.Errorf(codes.FailedPrecondition, "%s: checkpoint %d of run %s not found in %s", name, n, r.runID, r.store.Dir())
	}
	if err != nil {
		return status.Errorf(codes.FailedPrecondition, "%s: checkpoint %d of run %s cannot be read: %v", name, n, r.runID, err)
	}
	corrupt := func(format string, args ...any) error {
		return status.Errorf(codes.FailedPrecondition, "%s: checkpoint %d of run %s is corrupt: %s: %s", name, n, r.runID, path, fmt.Sprintf(format, args...))
	}
	snap, err := agg.DecodeSnapshot(data)
	if err != nil {
		return corrupt("%v", err)
	}
	if snap.RunID != r.runID || snap.Checkpoint != n {
		return corrupt("it holds checkpoint %d of run %s", snap.Checkpoint, snap.RunID)
	}
	if snap.WindowSeconds != r.agg.Window() {
		return status.Errorf(codes.FailedPrecondition, "%s: checkpoint %d of run %s was saved with windowSeconds %d, but the rules have %d",
			name, n, r.runID, snap.WindowSeconds, r.agg.Window())
	}
	if err := r.agg.Restore(snap); err != nil {
		return corrupt("%v", err)
	}
	r.restored, r.lastTrace = snap.SnapshotMeta, snap.LastTrace
	return nil
}

func (r *run) waitNs() int64 { return r.upWaitNs + r.creditWaitNs + r.sendNs }

// busyNs is the stage's own work: checking and dispatching batches, folding and sorting in
// the partitions (summed over their goroutines), building messages and merging the results.
func (r *run) busyNs() int64 { return r.dispatchNs + r.forwardNs + r.foldNs() }

func (r *run) foldNs() int64 {
	if r.agg == nil {
		return 0
	}
	return r.agg.BusyNs()
}

// readUp takes the inbound messages off the stream: checks each batch and hands it to the
// partitions, then queues it for forwarding in order. A batch is read straight from the
// received bytes (frame.ParseBatch, agg.DecodeEvents); any other message, and a batch those
// do not read exactly as protobuf would, is decoded by protobuf.
func (r *run) readUp() {
	name := r.cfg.Name
	var fb frame.Batch
	for {
		in := new(frame.In)
		t := time.Now()
		err := r.up.RecvMsg(in)
		r.upWaitNs += int64(time.Since(t))
		if err == io.EOF {
			r.fail(codes.Aborted, "%s: the stream ended before End", name)
			return
		}
		if err != nil {
			r.cancel() // the upstream cancelled or broke
			return
		}
		t0 := time.Now() // reading the message counts as the stage's own work
		if frame.ParseBatch(in.Data, &fb, r.pass) {
			if !r.takeRawBatch(in, &fb, t0) {
				return
			}
			continue
		}
		m := new(pb.StageRequest)
		if err := proto.Unmarshal(in.Data, m); err != nil {
			r.fail(codes.InvalidArgument, "%s: the message after batch %d is malformed: %v", name, r.lastTrace, err)
			return
		}
		switch k := m.GetKind().(type) {
		case *pb.StageRequest_Batch:
			if !r.takeBatch(in, k.Batch, t0) {
				return
			}
		case *pb.StageRequest_Barrier:
			in.Free()
			if !r.takeBarrier(k.Barrier) {
				return
			}
		case *pb.StageRequest_End:
			in.Free()
			r.enqueue(item{end: k.End})
			return
		case *pb.StageRequest_Header:
			r.fail(codes.FailedPrecondition, "%s: a second RunHeader arrived after batch %d", name, r.lastTrace)
			return
		default:
			r.fail(codes.InvalidArgument, "%s: unexpected %s after batch %d", name, kindName(m), r.lastTrace)
			return
		}
	}
}

// takeRawBatch checks a batch read from its bytes, hands its events to the partitions (they
// read them in place) and queues it. It returns false when the run ended.
func (r *run) takeRawBatch(in *frame.In, fb *frame.Batch, t0 time.Time) bool {
	trace := fb.Trace
	r.lastTrace = trace
	r.batchesIn++
	it := item{trace: trace}
	if r.pass {
		it.events = int(fb.Count)
		it.out = frame.OutFrame(in) // unchanged
	} else {
		if fb.HasRaw {
			r.fail(codes.InvalidArgument, "%s: batch %d: expected events, got raw lines", r.cfg.Name, trace)
			return false
		}
		if fb.HasEvents {
			job, err := r.agg.DecodeSubmit(fb.Events)
			if err != nil {
				if r.ctx.Err() == nil {
					r.fail(codes.InvalidArgument, "%s: batch %d: %v", r.cfg.Name, trace, err)
				}
				return false
			}
			it.job, it.events = job, job.Events()
		}
		it.in = in
		it.out = frame.OutBytes(fb.AppendFolded(make([]byte, 0, fb.FoldedSize())))
	}
	return r.queueBatch(it, t0)
}

// takeBatch is takeRawBatch for a batch protobuf decoded.
func (r *run) takeBatch(in *frame.In, b *pb.Batch, t0 time.Time) bool {
	trace := b.GetMeta().GetTraceId()
	r.lastTrace = trace
	r.batchesIn++
	it := item{trace: trace}
	if r.pass {
		it.events = int(b.GetEvents().GetCount())
		it.out = frame.OutFrame(in) // unchanged
	} else {
		in.Free()
		if b.GetRaw() != nil {
			r.fail(codes.InvalidArgument, "%s: batch %d: expected events, got raw lines", r.cfg.Name, trace)
			return false
		}
		cols, err := agg.Check(b.GetEvents())
		if err != nil {
			r.fail(codes.InvalidArgument, "%s: batch %d: %v", r.cfg.Name, trace, err)
			return false
		}
		if it.job, err = r.agg.Submit(cols); err != nil {
			return false // the run ended
		}
		it.events = cols.N
		// The sink gets the bookkeeping without the payload.
		out, err := proto.Marshal(&pb.StageRequest{Kind: &pb.StageRequest_Batch{Batch: &pb.Batch{Meta: b.GetMeta(), Counters: b.GetCounters(), DeadLetters: b.GetDeadLetters()}}})
		if err != nil {
			r.fail(codes.Internal, "%s: batch %d: %v", r.cfg.Name, trace, err)
			return false
		}
		it.out = frame.OutBytes(out)
	}
	return r.queueBatch(it, t0)
}

func (r *run) queueBatch(it item, t0 time.Time) bool {
	r.eventsIn += uint64(it.events)
	r.dispatchNs += int64(time.Since(t0))
	return r.enqueue(it)
}

// enqueue hands an item to the forwarding side; false when the run ended first.
func (r *run) enqueue(it item) bool {
	select {
	case r.queue <- it:
		return true
	case <-r.ctx.Done():
		return false
	}
}

// takeBarrier queues a barrier behind the batches before it. With snapshots, it first queues
// a snapshot job behind their folds in every partition: the sync point. The partitions write
// their state when they reach it and fold the later batches after that; the handler writes
// the file once they all have, then forwards the barrier. It returns false when the run ended.
func (r *run) takeBarrier(b *pb.Barrier) bool {
	n := b.GetCheckpointId()
	r.crashAt(crash.Barrier, n)
	it := item{barrier: b}
	if r.store != nil {
		// A snapshot of an id not above the last one would overwrite a checkpoint that may be
		// committed (the one this attempt resumed from, say) with a later state.
		if n <= r.lastBarrier {
			r.fail(codes.InvalidArgument, "%s: barrier %d after checkpoint %d: checkpoint ids must increase", r.cfg.Name, n, r.lastBarrier)
			return false
		}
		r.lastBarrier = n
		t0 := time.Now()
		it.meta = agg.SnapshotMeta{RunID: r.runID, Checkpoint: n, LastTrace: r.lastTrace,
			Batches: r.restored.Batches + r.batchesIn, Events: r.restored.Events + r.eventsIn}
		job, err := r.agg.Snapshot()
		if err != nil {
			return false // the run ended
		}
		it.job = job
		r.dispatchNs += int64(time.Since(t0))
	}
	return r.enqueue(it)
}

// crashAt is a crash point (services/PIPELINE.md "Crash points").
func (r *run) crashAt(point string, n uint64) {
	if err := r.cfg.Crash.At(point, n); err != nil {
		r.cfg.Log.Warn(r.runID, err.Error(), nil)
	}
}

// sendUp sends one message upstream; readDown and the handler both do.
func (r *run) sendUp(m *pb.StageResponse) error {
	r.upMu.Lock()
	defer r.upMu.Unlock()
	if r.upClosed {
		return io.EOF
	}
	return r.up.Send(m)
}

// readDown takes acknowledgements (freeing send credit) and the RunComplete off D's stream,
// and passes checkpoint_done upstream at once.
func (r *run) readDown() {
	name, d := r.cfg.Name, r.cfg.Downstream
	for {
		m, err := r.down.Recv()
		if err != nil {
			if err == io.EOF {
				r.fail(codes.Aborted, "%s: %s failed: its stream ended without RunComplete", name, d)
			} else {
				st := status.Convert(err)
				if r.ctx.Err() == nil {
					r.cfg.Reporter.Record(d, SinkMethod, 0, 0, false, st.Message())
				}
				r.fail(st.Code(), "%s: %s failed: %s", name, d, st.Message())
			}
			return
		}
		switch k := m.GetKind().(type) {
		case *pb.StageResponse_Ack:
			select {
			case <-r.credits:
			default: // an ack for nothing in flight: ignore it
			}
			r.sentMu.Lock()
			sb, ok := r.sent[k.Ack]
			delete(r.sent, k.Ack)
			r.sentMu.Unlock()
			if ok {
				r.cfg.Reporter.Record(d, SinkMethod, time.Since(sb.at), int64(sb.events), true, "")
			}
		case *pb.StageResponse_CheckpointDone:
			if err := r.sendUp(m); err != nil {
				r.cancel()
				return
			}
		case *pb.StageResponse_Complete:
			r.complete <- k.Complete
			return
		}
	}
}

// sendDown sends one message to D; on failure it returns the error to fail the run with,
// which is D's own status when its stream has ended.
func (r *run) sendDown(m any) error {
	t := time.Now()
	err := r.down.SendMsg(m)
	r.sendNs += int64(time.Since(t))
	if err == nil {
		return nil
	}
	if errors.Is(err, io.EOF) {
		// The stream is over: readDown receives D's status and fails the run with it.
		t := time.NewTimer(5 * time.Second)
		defer t.Stop()
		select {
		case <-r.ctx.Done():
			return r.failure()
		case <-t.C:
		}
	}
	st := status.Convert(err)
	r.fail(st.Code(), "%s: %s failed: %s", r.cfg.Name, r.cfg.Downstream, st.Message())
	return r.failure()
}

// forward runs in the handler goroutine: it is the only one that sends downstream, and
// upstream all but checkpoint_done.
func (r *run) forward() error {
	for {
		if r.ctx.Err() != nil { // an ended run forwards nothing more, queued or not
			return r.failure()
		}
		select {
		case it := <-r.queue:
			var err error
			switch {
			case it.end != nil:
				return r.finish(it.end)
			case it.barrier != nil:
				err = r.forwardBarrier(it)
			default:
				err = r.forwardBatch(it)
			}
			if err != nil {
				return err
			}
		case <-r.ctx.Done():
			return r.failure()
		}
	}
}

// forwardBarrier writes the snapshot of the barrier's checkpoint once every partition has
// written its state (when the run keeps snapshots), then forwards the barrier, which takes no
// send credit.
func (r *run) forwardBarrier(it item) error {
	n := it.barrier.GetCheckpointId()
	if it.job != nil {
		if err := it.job.Wait(r.ctx); err != nil {
			return r.failure()
		}
		t := time.Now()
		size, err := r.store.Save(r.ctx, n, func(w io.Writer) (int64, error) { return r.agg.WriteSnapshot(w, it.meta, it.job) })
		r.agg.Release(it.job)
		if err != nil {
			if r.ctx.Err() != nil {
				return r.failure()
			}
			r.fail(saveCode(err), "%s: cannot save checkpoint %d of run %s to %s: %v", r.cfg.Name, n, r.runID, r.store.Path(n), err)
			return r.failure()
		}
		if err := r.store.Prune(); err != nil && r.pruneErr == nil {
			r.pruneErr = err // reported when the run ends; a stale file costs only disk space
		}
		took := int64(time.Since(t))
		r.forwardNs += took
		r.checkpoints++
		r.checkpointNs += took
		r.snapshotBytes = size
		r.crashAt(crash.Saved, n)
	}
	if r.ctx.Err() != nil {
		return r.failure()
	}
	return r.sendDown(&pb.StageRequest{Kind: &pb.StageRequest_Barrier{Barrier: it.barrier}})
}

// saveCode is the status for a snapshot that cannot be written. Ingest retries a run only
// for codes a new attempt could fix; a full disk or a forbidden directory are not.
func saveCode(err error) codes.Code {
	switch {
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return codes.ResourceExhausted
	case errors.Is(err, fs.ErrPermission), errors.Is(err, syscall.EROFS):
		return codes.PermissionDenied
	}
	return codes.Internal
}

func (r *run) forwardBatch(it item) error {
	if it.job != nil {
		if err := it.job.Wait(r.ctx); err != nil {
			return r.failure()
		}
	}
	if it.in != nil {
		it.in.Free() // folded: the events are no longer read
	}
	trace := it.trace
	t := time.Now()
	select {
	case r.credits <- struct{}{}:
	case <-r.ctx.Done():
		return r.failure()
	}
	r.creditWaitNs += int64(time.Since(t))
	r.sentMu.Lock()
	r.sent[trace] = sentBatch{time.Now(), it.events}
	r.sentMu.Unlock()
	if err := r.sendDown(it.out); err != nil {
		return err
	}
	r.batchesOut++
	r.eventsOut += uint64(it.events)
	if it.job != nil {
		r.agg.Release(it.job)
	}
	if err := r.sendUp(&pb.StageResponse{Kind: &pb.StageResponse_Ack{Ack: trace}}); err != nil {
		r.cancel()
		return r.failure()
	}
	return nil
}

// finish merges the partitions, sends the ResultParts, appends the stage's metrics to End,
// forwards it and passes D's RunComplete upstream.
func (r *run) finish(end *pb.End) error {
	t := time.Now()
	send0 := r.sendNs
	if r.agg != nil {
		var sendErr error
		_, _, err := r.agg.Results(agg.MaxGroupsPerPart, agg.MaxPartBytes, func(p *pb.ResultPart) error {
			sendErr = r.sendDown(&pb.StageRequest{Kind: &pb.StageRequest_ResultPart{ResultPart: p}})
			return sendErr
		})
		if sendErr != nil {
			return sendErr
		}
		if err != nil {
			return r.failure()
		}
	}
	r.forwardNs += int64(time.Since(t)) - (r.sendNs - send0) // sends count as waiting
	end.Stages = append(end.Stages, &pb.StageMetrics{
		Stage:        StageKind,
		Language:     Language,
		BusyNs:       r.busyNs(),
		WaitNs:       r.waitNs(),
		BatchesIn:    r.batchesIn,
		BatchesOut:   r.batchesOut,
		EventsIn:     r.eventsIn,
		EventsOut:    r.eventsOut,
		CpuSeconds:   proc.CPUSeconds() - r.cpu0,
		PeakRssBytes: proc.PeakRSSBytes(),
		Pid:          int32(os.Getpid()),
	})
	if err := r.sendDown(&pb.StageRequest{Kind: &pb.StageRequest_End{End: end}}); err != nil {
		return err
	}
	_ = r.down.CloseSend()
	select {
	case c := <-r.complete:
		if err := r.sendUp(&pb.StageResponse{Kind: &pb.StageResponse_Complete{Complete: c}}); err != nil {
			return err
		}
		return nil
	case <-r.ctx.Done():
		return r.failure()
	}
}
