package testwire

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	pb "github.com/modular-runtime/aggregate/gen/pipeline/v1"
)

// root is the repository root (this file is services/aggregate/internal/testwire/real.go).
func root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "..")
}

// RealInput is the generated input the real-batch benchmarks read (`pnpm pipeline generate`
// with its defaults writes it to .cache/pipeline-bench); AGG_BENCH_INPUT names another file.
func RealInput() string {
	if p := os.Getenv("AGG_BENCH_INPUT"); p != "" {
		return p
	}
	return filepath.Join(root(), ".cache", "pipeline-bench", "events-v2-n1000000-s42-u10000-d7-uniform-valid.ndjson")
}

var realOnce struct {
	sync.Once
	frames [][]byte // StageRequest{batch} as the rules stage sends them
	events int
	err    error
}

// RealFrames turns the lines of the generated input into the StageRequests the aggregate
// stage receives with the default rules: 10,000 lines per batch, dictionaries in order of first
// appearance (users and types of dropped events stay in them, as parse and rules leave them),
// events of type "view" dropped, tier=high/low tag sets. Skips when the input is missing.
func RealFrames(tb testing.TB) ([][]byte, int) {
	tb.Helper()
	realOnce.Do(func() {
		f, err := os.Open(RealInput())
		if err != nil {
			realOnce.err = err
			return
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<21)
		type line struct {
			TS    string `json:"ts"`
			Type  string `json:"type"`
			User  string `json:"user"`
			Value int32  `json:"value"`
		}
		var (
			ev      *pb.Events
			types   map[string]uint32
			users   map[string]uint32
			sets    map[string]uint32
			lines   int
			trace   uint64
			dropped uint64
		)
		reset := func() {
			ev = &pb.Events{}
			types, users, sets = map[string]uint32{}, map[string]uint32{}, map[string]uint32{}
			lines, dropped = 0, 0
		}
		intern := func(m map[string]uint32, dict *[][]byte, k string) uint32 {
			i, ok := m[k]
			if !ok {
				i = uint32(len(*dict))
				m[k] = i
				*dict = append(*dict, []byte(k))
			}
			return i
		}
		flush := func() {
			if lines == 0 {
				return
			}
			trace++
			b := &pb.Batch{Meta: &pb.BatchMeta{TraceId: trace, IngestUnixNs: time.Now().UnixNano(), FirstLine: 1, LastLine: uint64(lines)},
				Counters: &pb.BatchCounters{Lines: uint64(lines), Dropped: dropped}, Payload: &pb.Batch_Events{Events: ev}}
			data, err := proto.Marshal(&pb.StageRequest{Kind: &pb.StageRequest_Batch{Batch: b}})
			if err != nil {
				realOnce.err = err
			}
			realOnce.frames = append(realOnce.frames, data)
			realOnce.events += int(ev.Count)
			reset()
		}
		reset()
		for sc.Scan() {
			var l line
			if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
				realOnce.err = err
				return
			}
			ts, err := time.Parse(time.RFC3339Nano, l.TS)
			if err != nil {
				realOnce.err = err
				return
			}
			lines++
			ti := intern(types, &ev.TypeDict, l.Type)
			ui := intern(users, &ev.UserDict, l.User)
			if l.Type != "view" {
				tag := "tier=low"
				if l.Value >= 100 {
					tag = "tier=high"
				}
				si, ok := sets[tag]
				if !ok {
					si = uint32(len(ev.TagSets))
					sets[tag] = si
					ev.TagSets = append(ev.TagSets, &pb.TagSet{Pairs: [][]byte{[]byte(tag)}})
				}
				ev.Count++
				ev.TsSeconds = binary.LittleEndian.AppendUint64(ev.TsSeconds, uint64(ts.Unix()))
				ev.Value = binary.LittleEndian.AppendUint32(ev.Value, uint32(l.Value))
				ev.TypeIndex = binary.LittleEndian.AppendUint32(ev.TypeIndex, ti)
				ev.UserIndex = binary.LittleEndian.AppendUint32(ev.UserIndex, ui)
				ev.TagSetIndex = binary.LittleEndian.AppendUint32(ev.TagSetIndex, si)
			} else {
				dropped++
			}
			if lines == 10_000 {
				flush()
			}
		}
		flush()
		realOnce.err = sc.Err()
	})
	if realOnce.err != nil {
		tb.Skipf("real batches: %v (generate the input with `pnpm pipeline generate` or set AGG_BENCH_INPUT)", realOnce.err)
	}
	return realOnce.frames, realOnce.events
}
