// Package logx writes the JSON log lines the supervisor collects:
// {"level":"info","msg":…,"service":name,"correlationId":run_id, …}.
package logx

import (
	"encoding/json"
	"io"
	"os"
	"sync"
)

// Logger writes one JSON object per line; safe for concurrent use.
type Logger struct {
	mu      sync.Mutex
	out     io.Writer
	service string
}

// New logs to out (os.Stdout when nil) as `service`.
func New(out io.Writer, service string) *Logger {
	if out == nil {
		out = os.Stdout
	}
	return &Logger{out: out, service: service}
}

// Log writes one line; correlationID is omitted when empty, extra fields follow.
func (l *Logger) Log(level, correlationID, msg string, extra map[string]any) {
	if l == nil {
		return
	}
	type line struct {
		Level         string `json:"level"`
		Msg           string `json:"msg"`
		Service       string `json:"service"`
		CorrelationID string `json:"correlationId,omitempty"`
	}
	b, err := json.Marshal(line{level, msg, l.service, correlationID})
	if err != nil {
		return
	}
	if len(extra) > 0 {
		if e, err := json.Marshal(extra); err == nil && len(e) > 2 {
			b = append(b[:len(b)-1], ',')
			b = append(b, e[1:]...)
		}
	}
	b = append(b, '\n')
	l.mu.Lock()
	defer l.mu.Unlock()
	_, _ = l.out.Write(b)
}

// Info logs at level info.
func (l *Logger) Info(correlationID, msg string, extra map[string]any) {
	l.Log("info", correlationID, msg, extra)
}

// Warn logs at level warn.
func (l *Logger) Warn(correlationID, msg string, extra map[string]any) {
	l.Log("warn", correlationID, msg, extra)
}

// Error logs at level error.
func (l *Logger) Error(correlationID, msg string, extra map[string]any) {
	l.Log("error", correlationID, msg, extra)
}
