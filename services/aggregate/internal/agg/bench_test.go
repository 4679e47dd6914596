package agg

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	pb "github.com/modular-runtime/aggregate/gen/pipeline/v1"
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
			inflight := make(chan *Job, 8)
			done := make(chan struct{})
			go func() {
				for j := range inflight {
					_ = j.Wait(ctx)
					a.Release(j)
				}
				close(done)
			}()
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
