package stage

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	pb "github.com/modular-runtime/aggregate/gen/pipeline/v1"
)

// BenchmarkStage drives the whole stage over loopback gRPC: an upstream sending batches of
// 7,200 events (10,000 users, times over 7 days, as the generator's defaults after the default
// rules) under a window of 8 and a fake sink acknowledging them.
func BenchmarkStage(b *testing.B) {
	r := rand.New(rand.NewPCG(3, 4))
	types := []string{"click", "purchase", "signup", "search", "add_to_cart", "logout"}
	var batches []*pb.Batch
	total := 0
	for i := 1; i <= 100; i++ {
		evs := make([]event, 7200)
		for j := range evs {
			v := int32(r.IntN(1000))
			tag := []string{"tier=low"}
			if v >= 100 {
				tag = []string{"tier=high"}
			}
			evs[j] = event{ts: 1_767_225_600 + r.Int64N(7*86400), v: v, typ: types[r.IntN(len(types))], user: fmt.Sprintf("u%06d", 1+r.IntN(10_000)), tags: tag}
		}
		total += len(evs)
		batches = append(batches, &pb.Batch{Meta: &pb.BatchMeta{TraceId: uint64(i)}, Counters: &pb.BatchCounters{Lines: 10_000, Dropped: 2800}, Payload: &pb.Batch_Events{Events: encode(evs)}})
	}
	for _, p := range []uint32{1, 2} {
		b.Run(fmt.Sprintf("partitions=%d", p), func(b *testing.B) {
			c := newChain(b, &fakeSink{}, Config{})
			t0 := time.Now()
			for i := 0; i < b.N; i++ {
				o := drive(b, c, header(p, false), batches, inputEnd(len(batches)))
				if o.err != nil || o.complete == nil {
					b.Fatalf("run: %v", o.err)
				}
			}
			b.ReportMetric(float64(total*b.N)/time.Since(t0).Seconds(), "events/s")
		})
	}
}
