// Package control talks to the control server's TopologyService by Connect unary JSON over
// HTTP/1.1 (services/PIPELINE.md): registration, heartbeats, activity reports, lookup of the
// downstream stage and unregistration.
package control

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/modular-runtime/aggregate/internal/logx"
	"github.com/modular-runtime/aggregate/internal/proc"
)

const servicePath = "/runtime.v1.TopologyService/"

// Client calls TopologyService methods.
type Client struct {
	BaseURL string // e.g. http://127.0.0.1:3000
	Token   string // sent as a Bearer token when set
	HTTP    *http.Client
}

// NewClient returns a client for baseURL with a short per-call timeout.
func NewClient(baseURL, token string) *Client {
	return &Client{BaseURL: strings.TrimRight(baseURL, "/"), Token: token, HTTP: &http.Client{Timeout: 5 * time.Second}}
}

// StatusError is a reply with an HTTP status other than 200 (Connect error JSON when present).
type StatusError struct {
	Status  int
	Code    string
	Message string
}

func (e *StatusError) Error() string {
	if e.Code != "" {
		return fmt.Sprintf("HTTP %d: %s: %s", e.Status, e.Code, e.Message)
	}
	return fmt.Sprintf("HTTP %d", e.Status)
}

// Call posts `in` as JSON to the method and decodes the reply into out (when not nil).
// Transport failures are returned as they are; a non-200 reply is a *StatusError.
func (c *Client) Call(ctx context.Context, method string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.BaseURL+servicePath+method, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Connect-Protocol-Version", "1")
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	res, err := c.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, 16<<20))
	if err != nil {
		return err
	}
	if res.StatusCode != http.StatusOK {
		e := &StatusError{Status: res.StatusCode}
		var ce struct{ Code, Message string }
		if json.Unmarshal(data, &ce) == nil {
			e.Code, e.Message = ce.Code, ce.Message
		}
		return e
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s: bad reply: %v", method, err)
	}
	return nil
}

// Lookup returns the address of the newest instance of `name` ("" when none is registered).
func (c *Client) Lookup(ctx context.Context, name string) (string, error) {
	var res struct {
		Instances []struct {
			Address string `json:"address"`
		} `json:"instances"`
	}
	if err := c.Call(ctx, "LookupService", map[string]string{"name": name}, &res); err != nil {
		return "", err
	}
	for _, i := range res.Instances { // newest first
		if i.Address != "" {
			return i.Address, nil
		}
	}
	return "", nil
}

// Registration is what the stage tells the topology about itself.
type Registration struct {
	Name         string
	Address      string // host:port
	Host         string
	Pid          int
	ProcessName  string // MR_PROCESS_NAME; omitted when empty
	Dependencies []string
}

type registerRequest struct {
	Name         string   `json:"name"`
	Type         string   `json:"type"`
	Language     string   `json:"language"`
	Version      string   `json:"version"`
	Address      string   `json:"address"`
	Host         string   `json:"host"`
	Pid          int      `json:"pid"`
	ProcessName  string   `json:"processName,omitempty"`
	Dependencies []string `json:"dependencies"`
}

type serviceHandle struct {
	InstanceID          string `json:"instanceId"`
	HeartbeatIntervalMs int    `json:"heartbeatIntervalMs"`
}

type activityEvent struct {
	TargetService string `json:"targetService"`
	Method        string `json:"method"`
	Type          string `json:"type"`
	Count         int64  `json:"count"`
	ErrorCount    int64  `json:"errorCount"`
	LatencySumUs  string `json:"latencySumUs"`
	LatencyMaxUs  string `json:"latencyMaxUs"`
	ItemCount     string `json:"itemCount"`
	TimestampMs   string `json:"timestampMs"`
	LastError     string `json:"lastError,omitempty"`
}

type pending struct {
	count, errors, items int64
	latSumUs, latMaxUs   int64
	lastError            string
}

// Reporter keeps the stage registered: it registers, beats every heartbeatIntervalMs,
// registers again when a beat is refused, reports activity once a second while there is
// any, and unregisters on Stop. While the control server is unreachable it retries every
// second and logs that once.
type Reporter struct {
	client *Client
	reg    Registration
	log    *logx.Logger

	mu       sync.Mutex
	id       string
	sequence int64
	activity map[[2]string]*pending
	lastCPU  float64
	lastAt   time.Time

	retry time.Duration // between attempts while unreachable (1 s)
	flush time.Duration // activity report period (1 s)
}

// NewReporter returns a reporter; Run starts it.
func NewReporter(c *Client, reg Registration, log *logx.Logger) *Reporter {
	return &Reporter{client: c, reg: reg, log: log, activity: map[[2]string]*pending{}, retry: time.Second, flush: time.Second}
}

// InstanceID is the current instance id ("" while unregistered).
func (r *Reporter) InstanceID() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.id
}

// Record notes one call to `target` (a batch sent and acknowledged) for the activity report.
func (r *Reporter) Record(target, method string, latency time.Duration, items int64, ok bool, errText string) {
	if r == nil {
		return
	}
	us := max(latency.Microseconds(), 0)
	r.mu.Lock()
	defer r.mu.Unlock()
	k := [2]string{target, method}
	p := r.activity[k]
	if p == nil {
		p = &pending{}
		r.activity[k] = p
	}
	p.count++
	p.items += items
	p.latSumUs += us
	p.latMaxUs = max(p.latMaxUs, us)
	if !ok {
		p.errors++
		p.lastError = errText
	}
}

// Run keeps the registration alive until ctx ends.
func (r *Reporter) Run(ctx context.Context) {
	go r.activityLoop(ctx)
	unreachable := false
	var interval time.Duration
	for ctx.Err() == nil {
		if r.InstanceID() == "" {
			h, err := r.register(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				if !unreachable {
					r.log.Warn("", fmt.Sprintf("control server not reachable at %s (%v); retrying every %s", r.client.BaseURL, err, r.retry), nil)
					unreachable = true
				}
				sleep(ctx, r.retry)
				continue
			}
			unreachable = false
			interval = time.Duration(h.HeartbeatIntervalMs) * time.Millisecond
			if interval <= 0 {
				interval = 5 * time.Second
			}
			r.log.Info("", fmt.Sprintf("registered as %s (heartbeat every %s)", h.InstanceID, interval), nil)
		}
		sleep(ctx, interval)
		if ctx.Err() != nil {
			return
		}
		for ctx.Err() == nil {
			err := r.beat(ctx)
			if err == nil {
				unreachable = false
				break
			}
			if se, ok := err.(*StatusError); ok {
				r.log.Warn("", fmt.Sprintf("heartbeat refused (%v); registering again", se), nil)
				r.mu.Lock()
				r.id = ""
				r.mu.Unlock()
				break
			}
			if ctx.Err() != nil {
				return
			}
			if !unreachable {
				r.log.Warn("", fmt.Sprintf("control server not reachable at %s (%v); retrying every %s", r.client.BaseURL, err, r.retry), nil)
				unreachable = true
			}
			sleep(ctx, r.retry)
		}
	}
}

func (r *Reporter) register(ctx context.Context) (serviceHandle, error) {
	deps := r.reg.Dependencies
	if deps == nil {
		deps = []string{}
	}
	var h serviceHandle
	err := r.client.Call(ctx, "RegisterService", registerRequest{
		Name: r.reg.Name, Type: "SERVICE_TYPE_HYBRID", Language: "SERVICE_LANGUAGE_GO", Version: "0.1.0",
		Address: r.reg.Address, Host: r.reg.Host, Pid: r.reg.Pid, ProcessName: r.reg.ProcessName, Dependencies: deps,
	}, &h)
	if err != nil {
		return h, err
	}
	if h.InstanceID == "" {
		return h, fmt.Errorf("RegisterService replied without an instanceId")
	}
	r.mu.Lock()
	r.id = h.InstanceID
	r.sequence = 0
	r.lastCPU, r.lastAt = proc.CPUSeconds(), time.Now()
	r.mu.Unlock()
	return h, nil
}

func (r *Reporter) beat(ctx context.Context) error {
	r.mu.Lock()
	id := r.id
	r.sequence++
	seq := r.sequence
	cpu, now := proc.CPUSeconds(), time.Now()
	pct := 0.0
	if el := now.Sub(r.lastAt).Seconds(); el > 0 {
		pct = (cpu - r.lastCPU) / el * 100
	}
	r.lastCPU, r.lastAt = cpu, now
	r.mu.Unlock()
	return r.client.Call(ctx, "SendHeartbeat", map[string]any{
		"instanceId": id,
		"sequence":   strconv.FormatInt(seq, 10),
		"health":     map[string]any{"state": "HEALTH_STATE_HEALTHY"},
		"metrics":    map[string]any{"rssBytes": strconv.FormatUint(proc.RSSBytes(), 10), "cpuPercent": pct},
	}, nil)
}

func (r *Reporter) activityLoop(ctx context.Context) {
	t := time.NewTicker(r.flush)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.flushActivity(ctx)
		}
	}
}

func (r *Reporter) flushActivity(ctx context.Context) {
	r.mu.Lock()
	id := r.id
	if id == "" || len(r.activity) == 0 {
		r.mu.Unlock()
		return
	}
	batch := r.activity
	r.activity = map[[2]string]*pending{}
	r.mu.Unlock()
	now := strconv.FormatInt(time.Now().UnixMilli(), 10)
	events := make([]activityEvent, 0, len(batch))
	for k, p := range batch {
		events = append(events, activityEvent{
			TargetService: k[0], Method: k[1], Type: "ACTIVITY_TYPE_REQUEST", Count: p.count, ErrorCount: p.errors,
			LatencySumUs: strconv.FormatInt(p.latSumUs, 10), LatencyMaxUs: strconv.FormatInt(p.latMaxUs, 10),
			ItemCount: strconv.FormatInt(p.items, 10), TimestampMs: now, LastError: p.lastError,
		})
	}
	// Activity is advisory: a report lost while the control server restarts is acceptable.
	_ = r.client.Call(ctx, "ReportActivity", map[string]any{"instanceId": id, "events": events}, nil)
}

// Stop unregisters the current instance (best effort, bounded by ctx).
func (r *Reporter) Stop(ctx context.Context) {
	r.flushActivity(ctx)
	id := r.InstanceID()
	if id == "" {
		return
	}
	_ = r.client.Call(ctx, "UnregisterService", map[string]string{"instanceId": id}, nil)
	r.mu.Lock()
	r.id = ""
	r.mu.Unlock()
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
