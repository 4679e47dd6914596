package agg

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	pb "github.com/modular-runtime/aggregate/gen/pipeline/v1"
	"github.com/modular-runtime/aggregate/internal/checkpoint"
	"github.com/modular-runtime/aggregate/internal/frame"
)

// benchBatches makes batches like those of `pnpm pipeline generate` with its defaults after
// the default rules: 10,000 users, event times uniform over 7 days, six types (view dropped),
// one tier tag per event; `perBatch` events per batch.
func benchBatches(nBatches, perBatch, users int) []*pb.Events {
	r := rand.New(rand.NewPCG(1, 2))
	types := []string{"click", "purchase", "signup", "search", "add_to_cart", "logout"}
	const start = 1_767_225_600 // 2026-01-01
	var out []*pb.Events
	for b := 0; b < nBatches; b++ {
		evs := make([]event, perBatch)
		for i := range evs {
			v := int32(r.IntN(1000))
			tag := []string{"tier=low"}
			if v >= 100 {
				tag = []string{"tier=high"}
			}
			evs[i] = event{ts: start + r.Int64N(7*86400), v: v, typ: types[r.IntN(len(types))], user: fmt.Sprintf("u%06d", 1+r.IntN(users)), tags: tag}
		}
		out = append(out, encode(evs, false))
	}
	return out
}

// BenchmarkFold measures folding throughput the way the stage drives the aggregator: checked
// batches submitted in order with up to 8 in flight, waited for in order.
func BenchmarkFold(b *testing.B) {
	batches := benchBatches(64, 7_200, 10_000)
	for _, p := range []int{1, 2} {
		b.Run(fmt.Sprintf("partitions=%d", p), func(b *testing.B) {
			ctx := context.Background()
			a := New(ctx, p, 60)
			inflight, done := drainInOrder(ctx, a)
			b.ResetTimer()
			t0 := time.Now()
			events := 0
			for i := 0; i < b.N; i++ {
				c, err := Check(batches[i%len(batches)]) // the stage checks every batch
				if err != nil {
					b.Fatal(err)
				}
				j, err := a.Submit(c)
				if err != nil {
					b.Fatal(err)
				}
				inflight <- j
				events += c.N
			}
			close(inflight)
			<-done
			elapsed := time.Since(t0)
			b.StopTimer()
			_ = a.Close()
			b.ReportMetric(float64(events)/elapsed.Seconds(), "events/s")
		})
	}
}

// BenchmarkRun measures a whole small run from a cold start: a new aggregator, 30 batches of
// 7,200 events, then the merge into ResultParts.
func BenchmarkRun(b *testing.B) {
	batches := benchBatches(30, 7_200, 10_000)
	for _, p := range []int{1, 2} {
		b.Run(fmt.Sprintf("partitions=%d", p), func(b *testing.B) {
			events := 0
			t0 := time.Now()
			for i := 0; i < b.N; i++ {
				a := New(context.Background(), p, 60)
				var jobs []*Job
				for _, e := range batches {
					c, _ := Check(e)
					j, err := a.Submit(c)
					if err != nil {
						b.Fatal(err)
					}
					jobs = append(jobs, j)
					events += c.N
				}
				for _, j := range jobs {
					_ = j.Wait(context.Background())
				}
				if _, _, err := a.Results(MaxGroupsPerPart, MaxPartBytes, func(*pb.ResultPart) error { return nil }); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(events)/time.Since(t0).Seconds(), "events/s")
		})
	}
}

// BenchmarkSnapshot measures a checkpoint of a realistic state: 10,000 users, six types, two
// tags and 60,480 windows (7 days of minutes × 6 types), folded from 1.008 M events shaped like
// the generator's defaults. encode: the partitions write their sections (in parallel) and the
// file is produced into memory; save: the same into <dir>/aggregate-N.snap as the stage does
// it (temporary file, fsync, rename, prune); restore: decode and load into a new aggregator.
func BenchmarkSnapshot(b *testing.B) {
	batches := benchBatches(140, 7_200, 10_000)
	for _, p := range []int{1, 2} {
		ctx := context.Background()
		a := New(ctx, p, 60)
		for _, e := range batches {
			c, _ := Check(e)
			j, err := a.Submit(c)
			if err != nil {
				b.Fatal(err)
			}
			_ = j.Wait(ctx)
			a.Release(j)
		}
		snap := func(w io.Writer) (int64, error) {
			j, err := a.Snapshot()
			if err != nil {
				return 0, err
			}
			_ = j.Wait(ctx)
			n, err := a.WriteSnapshot(w, SnapshotMeta{RunID: "bench", Checkpoint: 1}, j)
			a.Release(j)
			return n, err
		}
		var size int64
		b.Run(fmt.Sprintf("encode/partitions=%d", p), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				n, err := snap(io.Discard)
				if err != nil {
					b.Fatal(err)
				}
				size = n
			}
			b.ReportMetric(float64(size), "bytes")
		})
		b.Run(fmt.Sprintf("save/partitions=%d", p), func(b *testing.B) {
			store := checkpoint.New(b.TempDir(), "aggregate", 0)
			for i := 0; i < b.N; i++ {
				if _, err := store.Save(ctx, uint64(i+1), snap); err != nil {
					b.Fatal(err)
				}
				if err := store.Prune(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(size), "bytes")
		})
		var buf bytes.Buffer
		if _, err := snap(&buf); err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("restore/partitions=%d", p), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				s, err := DecodeSnapshot(buf.Bytes())
				if err != nil {
					b.Fatal(err)
				}
				rctx, cancel := context.WithCancel(ctx)
				if err := New(rctx, p, 60).Restore(s); err != nil {
					b.Fatal(err)
				}
				cancel() // stops the goroutines without sorting the groups as Close would

			}
		})
		_ = a.Close()
	}
}

// BenchmarkFoldReal measures what the stage does per batch with batches built from the
// generated input (realFrames): decode the StageRequest frame, check the columns, fold with up
// to 8 batches in flight. It reports CPU time per event (all goroutines, GC included) beside
// the wall time, since the partitions run in parallel.
func BenchmarkFoldReal(b *testing.B) {
	frames, _ := realFrames(b)
	for _, p := range []int{1, 2} {
		b.Run(fmt.Sprintf("partitions=%d", p), func(b *testing.B) {
			ctx := context.Background()
			a := New(ctx, p, 60)
			inflight, done := drainInOrder(ctx, a)
			b.ReportAllocs()
			b.ResetTimer()
			t0, cpu0 := time.Now(), cpuNow()
			events := 0
			var fb frame.Batch
			for i := 0; i < b.N; i++ {
				if !frame.ParseBatch(frames[i%len(frames)], &fb, false) {
					b.Fatal("not a batch")
				}
				j, err := a.DecodeSubmit(fb.Events)
				if err != nil {
					b.Fatal(err)
				}
				_ = fb.AppendFolded(make([]byte, 0, fb.FoldedSize())) // the forwarded batch
				inflight <- j
				events += j.Events()
			}
			close(inflight)
			<-done
			elapsed, cpu := time.Since(t0), cpuNow()-cpu0
			b.StopTimer()
			_ = a.Close()
			b.ReportMetric(float64(elapsed.Nanoseconds())/float64(events), "ns/event")
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(events), "cpu-ns/event")
		})
	}
}

// drainInOrder waits for submitted jobs in order and releases them, as the stage does: send
// jobs on inflight (at most 8 queued), close it, then wait for done.
func drainInOrder(ctx context.Context, a *Aggregator) (inflight chan *Job, done chan struct{}) {
	inflight = make(chan *Job, 8)
	done = make(chan struct{})
	go func() {
		for j := range inflight {
			_ = j.Wait(ctx)
			a.Release(j)
		}
		close(done)
	}()
	return inflight, done
}
