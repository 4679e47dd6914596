package control

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modular-runtime/aggregate/internal/logx"
)

// fakeTopology is a control server that records the calls it gets.
type fakeTopology struct {
	mu        sync.Mutex
	calls     []string
	bodies    map[string][]map[string]any
	refuse    int // refuse this many heartbeats with 404
	instances int
	headers   http.Header
}

func (f *fakeTopology) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	method := strings.TrimPrefix(r.URL.Path, "/runtime.v1.TopologyService/")
	body, _ := io.ReadAll(r.Body)
	var m map[string]any
	_ = json.Unmarshal(body, &m)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, method)
	f.bodies[method] = append(f.bodies[method], m)
	f.headers = r.Header.Clone()
	w.Header().Set("Content-Type", "application/json")
	switch method {
	case "RegisterService":
		f.instances++
		_ = json.NewEncoder(w).Encode(map[string]any{"instanceId": "inst-" + string(rune('0'+f.instances)), "heartbeatIntervalMs": 20})
	case "SendHeartbeat":
		if f.refuse > 0 {
			f.refuse--
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"code":"not_found","message":"unknown instance"}`))
			return
		}
		_, _ = w.Write([]byte(`{"sequence":"1","acknowledged":true}`))
	case "LookupService":
		if m["name"] == "sink" {
			_, _ = w.Write([]byte(`{"instances":[{"name":"sink","address":"127.0.0.1:5555"},{"address":"127.0.0.1:4444"}]}`))
		} else {
			_, _ = w.Write([]byte(`{"instances":[]}`))
		}
	default:
		_, _ = w.Write([]byte(`{}`))
	}
}

func (f *fakeTopology) count(method string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.bodies[method])
}

func TestReporterLifecycle(t *testing.T) {
	f := &fakeTopology{bodies: map[string][]map[string]any{}, refuse: 1}
	srv := httptest.NewServer(f)
	defer srv.Close()
	c := NewClient(srv.URL+"/", "secret")
	r := NewReporter(c, Registration{Name: "aggregate", Address: "127.0.0.1:7000", Host: "127.0.0.1", Pid: 123, Dependencies: []string{"sink"}}, logx.New(io.Discard, "aggregate"))
	r.flush = 20 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()

	// The first beat is refused: the reporter registers again and beats on.
	deadline := time.Now().Add(5 * time.Second)
	for f.count("SendHeartbeat") < 4 || f.count("RegisterService") < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("calls so far: %v", f.calls)
		}
		time.Sleep(10 * time.Millisecond)
	}
	r.Record("sink", "pipeline.v1.SinkService/Process", 1500*time.Microsecond, 100, true, "")
	r.Record("sink", "pipeline.v1.SinkService/Process", 500*time.Microsecond, 50, true, "")
	for f.count("ReportActivity") < 1 {
		if time.Now().After(deadline) {
			t.Fatalf("no activity report: %v", f.calls)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	r.Stop(context.Background())

	f.mu.Lock()
	defer f.mu.Unlock()
	reg := f.bodies["RegisterService"][0]
	if reg["name"] != "aggregate" || reg["type"] != "SERVICE_TYPE_HYBRID" || reg["language"] != "SERVICE_LANGUAGE_GO" || reg["address"] != "127.0.0.1:7000" ||
		reg["pid"] != float64(123) || reg["version"] != "0.1.0" || len(reg["dependencies"].([]any)) != 1 {
		t.Errorf("RegisterService body %v", reg)
	}
	if _, ok := reg["processName"]; ok {
		t.Errorf("processName sent while unset: %v", reg)
	}
	beat := f.bodies["SendHeartbeat"][len(f.bodies["SendHeartbeat"])-1]
	if beat["instanceId"] != "inst-2" || beat["health"].(map[string]any)["state"] != "HEALTH_STATE_HEALTHY" {
		t.Errorf("heartbeat %v", beat)
	}
	if _, ok := beat["sequence"].(string); !ok {
		t.Errorf("sequence is not a JSON string: %v", beat)
	}
	act := f.bodies["ReportActivity"][0]["events"].([]any)[0].(map[string]any)
	if act["targetService"] != "sink" || act["count"] != float64(2) || act["itemCount"] != "150" || act["latencySumUs"] != "2000" || act["latencyMaxUs"] != "1500" || act["type"] != "ACTIVITY_TYPE_REQUEST" {
		t.Errorf("activity %v", act)
	}
	un := f.bodies["UnregisterService"]
	if len(un) != 1 || un[0]["instanceId"] != "inst-2" {
		t.Errorf("UnregisterService %v", un)
	}
	if f.headers.Get("Authorization") != "Bearer secret" || f.headers.Get("Content-Type") != "application/json" {
		t.Errorf("headers %v", f.headers)
	}
}

func TestLookup(t *testing.T) {
	f := &fakeTopology{bodies: map[string][]map[string]any{}}
	srv := httptest.NewServer(f)
	defer srv.Close()
	c := NewClient(srv.URL, "")
	if a, err := c.Lookup(context.Background(), "sink"); err != nil || a != "127.0.0.1:5555" {
		t.Fatalf("Lookup(sink) = %q, %v", a, err)
	}
	if a, err := c.Lookup(context.Background(), "other"); err != nil || a != "" {
		t.Fatalf("Lookup(other) = %q, %v", a, err)
	}
}

func TestUnreachableControlServer(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there any more
	var out strings.Builder
	var mu sync.Mutex
	w := writerFunc(func(p []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return out.Write(p) })
	r := NewReporter(NewClient(url, ""), Registration{Name: "aggregate"}, logx.New(w, "aggregate"))
	r.retry = 10 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	r.Run(ctx)
	mu.Lock()
	defer mu.Unlock()
	if n := strings.Count(out.String(), "not reachable"); n != 1 {
		t.Fatalf("logged %d times:\n%s", n, out.String())
	}
	if _, err := NewClient(url, "").Lookup(context.Background(), "sink"); err == nil {
		t.Fatal("Lookup against nothing succeeded")
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
