package agg

import (
	"context"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"
)

// MaxPartitions bounds the number of partition goroutines a run may ask for.
const MaxPartitions = 1024

// queueDepth is the capacity of each partition's job channel.
const queueDepth = 8

var seed = maphash.MakeSeed()

// Job is one batch handed to every partition, or a snapshot of their state (Snapshot). Done
// is signalled once all partitions have folded it in (or written their state).
type Job struct {
	cols      Columns
	decoded   bool // cols were decoded into the job's own slices (DecodeSubmit): reused
	userHash  []uint64
	remaining atomic.Int32
	done      chan struct{}
	// A snapshot job: each partition appends its state to sections[partition] when the job
	// reaches it, i.e. after every batch submitted before it and before any submitted after.
	snapshot bool
	sections [][]byte
}

// Wait blocks until every partition has folded the job in, or ctx ends.
func (j *Job) Wait(ctx context.Context) error {
	select {
	case <-j.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Aggregator runs one partition goroutine per partition for one run. Submit hands batches
// to them in order; each partition folds the events of its own users, so no state is shared
// and no lock is taken while folding. Close ends the goroutines; Results merges their state.
type Aggregator struct {
	parts    []*partition
	chans    []chan *Job
	wg       sync.WaitGroup
	pool     sync.Pool // batch jobs
	snapPool sync.Pool // snapshot jobs, with their section buffers
	busyNs   []int64   // per partition, written by its goroutine, read after Close
	closed   bool
	ctx      context.Context
	sorted   []*sortedRuns // per partition, set by its goroutine when it ends
	window   int64
	started  bool // a job was submitted: Restore is too late
}

// New starts `partitions` goroutines (clamped to 1..MaxPartitions) folding with the given
// window length in seconds (> 0). They stop when ctx ends or after Close.
func New(ctx context.Context, partitions int, windowSeconds int64) *Aggregator {
	partitions = min(max(partitions, 1), MaxPartitions)
	a := &Aggregator{ctx: ctx, busyNs: make([]int64, partitions), sorted: make([]*sortedRuns, partitions), window: windowSeconds}
	a.pool.New = func() any { return &Job{done: make(chan struct{}, 1)} }
	a.snapPool.New = func() any {
		return &Job{done: make(chan struct{}, 1), snapshot: true, sections: make([][]byte, partitions)}
	}
	for i := 0; i < partitions; i++ {
		p := newPartition(uint16(i), partitions, windowSeconds)
		ch := make(chan *Job, queueDepth)
		a.parts = append(a.parts, p)
		a.chans = append(a.chans, ch)
		a.wg.Add(1)
		go a.loop(i, p, ch)
	}
	return a
}

// Window is the window length in seconds.
func (a *Aggregator) Window() int64 { return a.window }

// Partitions is the number of partition goroutines.
func (a *Aggregator) Partitions() int { return len(a.parts) }

func (a *Aggregator) loop(i int, p *partition, ch chan *Job) {
	defer a.wg.Done()
	var busy time.Duration
	defer func() { a.busyNs[i] = int64(busy) }()
	for {
		select {
		case j, ok := <-ch:
			if !ok {
				t0 := time.Now()
				a.sorted[i] = p.sortRuns()
				busy += time.Since(t0)
				return
			}
			t0 := time.Now()
			if j.snapshot {
				j.sections[i] = p.appendState(j.sections[i][:0])
			} else {
				p.fold(&j.cols, j.userHash)
			}
			busy += time.Since(t0)
			if j.remaining.Add(-1) == 0 {
				j.done <- struct{}{}
			}
		case <-a.ctx.Done():
			return
		}
	}
}

// Submit hands a checked batch to every partition and returns its job; the job's Columns must
// stay untouched until Wait returns. It blocks while the partitions' queues are full.
func (a *Aggregator) Submit(c Columns) (*Job, error) {
	j := a.pool.Get().(*Job)
	j.cols, j.decoded = c, false // c's slices are not ours: a later decode must not write into them
	return a.dispatch(j)
}

// DecodeSubmit decodes the wire bytes of an Events message (DecodeEvents), checks them and
// hands them to the partitions like Submit. The bytes must stay untouched until the job's
// Wait returns. A decoding or checking error returns no job and leaves the aggregator as it
// was; ctx's error means the run ended.
func (a *Aggregator) DecodeSubmit(events []byte) (*Job, error) {
	j := a.pool.Get().(*Job)
	if !j.decoded {
		j.cols, j.decoded = Columns{}, true
	}
	if err := DecodeEvents(events, &j.cols); err != nil {
		a.pool.Put(j)
		return nil, err
	}
	return a.dispatch(j)
}

func (a *Aggregator) dispatch(j *Job) (*Job, error) {
	// Each user is hashed once per batch, here; the partitions pick their users by the hash
	// and use it again as the key of their user table.
	j.userHash = j.userHash[:0]
	for _, u := range j.cols.UserDict {
		j.userHash = append(j.userHash, maphash.Bytes(seed, u))
	}
	if err := a.submit(j); err != nil {
		return nil, err
	}
	return j, nil
}

// Snapshot queues a snapshot job behind the batches submitted so far: once Wait returns, the
// job holds the state of every partition as of those batches, and no later batch (the
// partitions keep folding them meanwhile). WriteSnapshot then writes it out.
func (a *Aggregator) Snapshot() (*Job, error) {
	j := a.snapPool.Get().(*Job)
	if err := a.submit(j); err != nil {
		return nil, err
	}
	return j, nil
}

func (a *Aggregator) submit(j *Job) error {
	a.started = true
	j.remaining.Store(int32(len(a.parts)))
	for _, ch := range a.chans {
		select {
		case ch <- j:
		case <-a.ctx.Done():
			return a.ctx.Err()
		}
	}
	return nil
}

// Release returns a job whose Wait has returned, so its buffers are reused.
func (a *Aggregator) Release(j *Job) {
	if j.decoded { // keep the dictionaries' capacity, not what they point to
		j.cols = Columns{TypeDict: j.cols.TypeDict[:0], UserDict: j.cols.UserDict[:0], TagPairs: j.cols.TagPairs[:0], TagOff: j.cols.TagOff[:0]}
	} else {
		j.cols = Columns{}
	}
	select {
	case <-j.done: // never signalled if the run was cancelled: do not reuse a half-done job
	default:
	}
	if j.remaining.Load() != 0 {
		return
	}
	if j.snapshot {
		a.snapPool.Put(j)
	} else {
		a.pool.Put(j)
	}
}

// Close lets the partitions finish their queued jobs, sort their groups and stop; it waits
// for them. It returns ctx's error when the run ended first.
func (a *Aggregator) Close() error {
	if !a.closed {
		a.closed = true
		for _, ch := range a.chans {
			close(ch)
		}
	}
	a.wg.Wait()
	return a.ctx.Err()
}

// BusyNs is the time the partition goroutines spent folding and sorting, summed (valid
// after Close).
func (a *Aggregator) BusyNs() int64 {
	var s int64
	for _, b := range a.busyNs {
		s += b
	}
	return s
}

// Events is the number of events of a batch job.
func (j *Job) Events() int { return j.cols.N }
