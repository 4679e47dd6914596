package stage

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	pb "github.com/modular-runtime/aggregate/gen/pipeline/v1"
	"github.com/modular-runtime/aggregate/internal/frame"
	"github.com/modular-runtime/aggregate/internal/testwire"
)

// BenchmarkBinary measures the CPU time of the built stage (bin/aggregate, run as its own
// process) per event, fed the batches of the generated input (testwire.RealFrames) over gRPC
// by this process with a window of 8, forwarding to a fake sink here. Only the stage's own
// process is measured (user + system from /proc), so the driver's and sink's work is not
// counted. Build the binary first (scripts/build.sh); AGG_BENCH_BIN names another one, and
// AGG_BENCH_PACE (a duration) paces the batches the way a slower upstream does.
func BenchmarkBinary(b *testing.B) {
	frames, events := testwire.RealFrames(b)
	// Three rounds of them per run: about the 2.16 M events the 3 M-line input brings to the
	// stage, so the work at the end of a run weighs as much as there.
	frames = append(append(frames[:len(frames):len(frames)], frames...), frames...)
	events *= 3
	_, file, _, _ := runtime.Caller(0)
	bin := filepath.Join(filepath.Dir(file), "..", "..", "bin", "aggregate")
	if p := os.Getenv("AGG_BENCH_BIN"); p != "" { // another build, to compare
		bin = p
	}
	if _, err := os.Stat(bin); err != nil {
		b.Skipf("%s: %v (run scripts/build.sh)", bin, err)
	}
	sinkAddr := serve(b, func(s *grpc.Server) { pb.RegisterSinkServiceServer(s, &fakeSink{done: make(chan struct{}, 1)}) })
	cmd := exec.Command(bin, "--port", "0", "--name", "aggregate-bench", "--downstream-address", sinkAddr, "--control-url", "http://127.0.0.1:9")
	if g := os.Getenv("AGG_BENCH_CHILD_GOMAXPROCS"); g != "" { // the stage's own, apart from this process's
		cmd.Env = append(os.Environ(), "GOMAXPROCS="+g)
	}
	cmd.Stderr = os.Stderr // the stage writes nothing there, but for GODEBUG traces
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr := ""
	sc := bufio.NewScanner(stdout)
	for addr == "" && sc.Scan() {
		var l struct{ Msg string }
		if json.Unmarshal(sc.Bytes(), &l) == nil && strings.HasPrefix(l.Msg, "listening on ") {
			addr = strings.Fields(l.Msg)[2]
		}
	}
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxMessageBytes), grpc.MaxCallSendMsgSize(MaxMessageBytes)))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	for _, p := range []uint32{1, 2} {
		b.Run(fmt.Sprintf("partitions=%d", p), func(b *testing.B) {
			var cpu time.Duration
			for i := 0; i < b.N; i++ {
				cpu0 := procCPU(b, cmd.Process.Pid)
				driveFrames(b, conn, &pb.RunHeader{RunId: fmt.Sprintf("bench-%d-%d", p, i), Partitions: p, OutDir: "/tmp/x"}, frames)
				cpu += procCPU(b, cmd.Process.Pid) - cpu0
			}
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(events*b.N), "cpu-ns/event")
		})
	}
}

// procCPU is the user + system time of process pid (clock ticks of 10 ms).
func procCPU(tb testing.TB, pid int) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		tb.Fatal(err)
	}
	f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// driveFrames is drive with batches already encoded (StageRequest bytes).
func driveFrames(tb testing.TB, conn *grpc.ClientConn, header *pb.RunHeader, frames [][]byte) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	stream, err := pb.NewAggregateServiceClient(conn).Process(ctx, grpc.ForceCodecV2(frame.Codec{}))
	if err != nil {
		tb.Fatal(err)
	}
	credits := make(chan struct{}, 8)
	recvErr := make(chan error, 1)
	go func() {
		for {
			m, err := stream.Recv()
			if err != nil {
				recvErr <- err
				return
			}
			switch m.Kind.(type) {
			case *pb.StageResponse_Ack:
				<-credits
			case *pb.StageResponse_Complete:
				recvErr <- nil
				return
			}
		}
	}()
	if err := stream.Send(&pb.StageRequest{Kind: &pb.StageRequest_Header{Header: header}}); err != nil {
		tb.Fatal(err)
	}
	pace, _ := time.ParseDuration(os.Getenv("AGG_BENCH_PACE")) // e.g. 10ms: one batch per interval, as a slower chain sends them
	next := time.Now()
	for _, f := range frames {
		if pace > 0 {
			time.Sleep(time.Until(next))
			next = next.Add(pace)
		}
		credits <- struct{}{}
		if err := stream.SendMsg(frame.OutBytes(f)); err != nil {
			tb.Fatal(err)
		}
	}
	if err := stream.Send(&pb.StageRequest{Kind: &pb.StageRequest_End{End: inputEnd(len(frames))}}); err != nil {
		tb.Fatal(err)
	}
	_ = stream.CloseSend()
	if err := <-recvErr; err != nil {
		tb.Fatal(err)
	}
}
