// Command aggregate is the Go stage of the split pipeline (services/PIPELINE.md): it serves
// pipeline.v1.AggregateService, folds events into the §4.4 groups over hash partitions and
// forwards the folded batches and, at the end, the groups to the sink.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"

	pb "github.com/modular-runtime/aggregate/gen/pipeline/v1"
	"github.com/modular-runtime/aggregate/internal/control"
	"github.com/modular-runtime/aggregate/internal/crash"
	"github.com/modular-runtime/aggregate/internal/logx"
	"github.com/modular-runtime/aggregate/internal/stage"
)

func main() {
	keepSysmonAwake()
	os.Exit(run())
}

// sysmonSetting keeps the Go runtime's monitor thread (sysmon) from sleeping deeply while the
// process is idle. Batches arrive every ~10 ms with idle gaps between them; after each gap,
// the first system call wakes the deeply sleeping sysmon, which then polls every 20 µs again
// (for a millisecond, then backing off): some 50 thread wake-ups per batch, measured at 15–25 %
// of the stage's CPU on the shared 2-core machine. A scheduler trace interval (printed at most
// every 24.8 days of uptime, to stderr) is the one setting that keeps sysmon out of the deep
// sleep, and without it sysmon backs off to one wake-up per 10 ms and stays there.
const sysmonSetting = "schedtrace=2147483647"

// keepSysmonAwake re-executes the binary (same pid, arguments and environment) with
// sysmonSetting added to GODEBUG, which the runtime reads only at startup. It does nothing
// when GODEBUG already sets schedtrace (schedtrace=0 turns this off), and goes on as it is
// when the executable cannot be run again.
func keepSysmonAwake() {
	godebug := os.Getenv("GODEBUG")
	if strings.Contains(godebug, "schedtrace=") {
		return
	}
	exe, err := os.Executable()
	if err != nil {
		return
	}
	if godebug != "" {
		godebug += ","
	}
	env := []string{"GODEBUG=" + godebug + sysmonSetting}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GODEBUG=") {
			env = append(env, kv)
		}
	}
	err = syscall.Exec(exe, os.Args, env)
	fmt.Fprintf(os.Stderr, "aggregate: cannot re-execute %s with GODEBUG=%s: %v\n", exe, sysmonSetting, err)
}

func run() int {
	defaultControl := os.Getenv("MR_CONTROL_HTTP_URL")
	if defaultControl == "" {
		defaultControl = "http://127.0.0.1:3000"
	}
	fs := flag.NewFlagSet("aggregate", flag.ContinueOnError)
	host := fs.String("host", "127.0.0.1", "address to listen on")
	port := fs.Int("port", 0, "port to listen on (0: an ephemeral port)")
	name := fs.String("name", "aggregate", "service name registered with the topology")
	downstream := fs.String("downstream", "sink", "name of the downstream service")
	// One partition folds several million events a second, far more than the chain brings,
	// and costs the least CPU per event: more partitions are for when the stage limits a run.
	partitions := fs.Int("partitions", 1, "aggregation partitions when the RunHeader has none")
	controlURL := fs.String("control-url", defaultControl, "control server URL (Connect JSON over HTTP/1.1)")
	downstreamAddr := fs.String("downstream-address", "", "HOST:PORT of the downstream; skips the topology lookup (tests)")
	if err := fs.Parse(os.Args[1:]); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "aggregate: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if *partitions < 1 {
		fmt.Fprintln(os.Stderr, "aggregate: --partitions must be at least 1")
		return 2
	}
	// Crash points for recovery tests (services/PIPELINE.md "Crash points").
	crashAt, err := crash.Parse(os.Getenv("MR_CRASH_AT"), os.Getenv("MR_CRASH_MARKER"))
	if err != nil {
		fmt.Fprintf(os.Stderr, "aggregate: %v\n", err)
		return 2
	}
	log := logx.New(os.Stdout, *name)

	lis, err := net.Listen("tcp", net.JoinHostPort(*host, strconv.Itoa(*port)))
	if err != nil {
		log.Error("", fmt.Sprintf("cannot listen on %s:%d: %v", *host, *port, err), nil)
		return 1
	}
	bound := lis.Addr().(*net.TCPAddr).Port
	advertise := *host
	if ip := net.ParseIP(advertise); advertise == "" || (ip != nil && ip.IsUnspecified()) {
		advertise = "127.0.0.1"
	}
	address := net.JoinHostPort(advertise, strconv.Itoa(bound))

	client := control.NewClient(*controlURL, os.Getenv("MR_CONTROL_TOKEN"))
	reporter := control.NewReporter(client, control.Registration{
		Name: *name, Address: address, Host: advertise, Pid: os.Getpid(),
		ProcessName: os.Getenv("MR_PROCESS_NAME"), Dependencies: []string{*downstream},
	}, log)

	svc := stage.New(stage.Config{
		Name: *name, Downstream: *downstream, Partitions: *partitions, DownstreamAddress: *downstreamAddr,
		Lookup: client.Lookup, Reporter: reporter, Log: log, Crash: crashAt,
		FitProcs: os.Getenv("GOMAXPROCS") == "",
	})
	srv := grpc.NewServer(stage.ServerOptions()...)
	pb.RegisterAggregateServiceServer(srv, svc)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	log.Info("", fmt.Sprintf("listening on %s (downstream %s, %d partitions by default)", address, *downstream, *partitions), nil)
	if crashAt != nil {
		log.Info("", fmt.Sprintf("crash point %s:%d armed (marker %s)", crashAt.Name, crashAt.Checkpoint, crashAt.Marker), nil)
	}
	repCtx, stopReporter := context.WithCancel(context.Background())
	go reporter.Run(repCtx)

	code := 0
	select {
	case <-ctx.Done():
		log.Info("", "stopping", nil)
	case err := <-served:
		log.Error("", fmt.Sprintf("server stopped: %v", err), nil)
		code = 1
	}
	stopReporter()
	uctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	reporter.Stop(uctx)
	cancel()
	done := make(chan struct{})
	go func() { srv.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		srv.Stop()
	}
	svc.Close()
	return code
}
