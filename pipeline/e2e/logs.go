package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
)

// Bounds on what a LogBuffer keeps: a daemon under load for minutes must not
// grow the test's memory without end.
const (
	maxLogLines    = 200000
	maxLogLineSize = 64 << 10
)

// LogLine is one line the daemon wrote. JSON lines (log.format = "json") are
// decoded into Fields; other lines have Fields nil.
type LogLine struct {
	Raw    string
	Fields map[string]any
}

// Msg is the slog message ("msg"), or "" for a non-JSON line.
func (l LogLine) Msg() string { return l.Str("msg") }

// Level is the slog level ("INFO", "WARN", …).
func (l LogLine) Level() string { return l.Str("level") }

// Str returns field key rendered as text ("" when absent).
func (l LogLine) Str(key string) string {
	v, ok := l.Fields[key]
	if !ok || v == nil {
		return ""
	}
	if s, ok := v.(string); ok {
		return s
	}
	return fmt.Sprint(v)
}

// Num returns field key as a number (0 when absent or not a number).
func (l LogLine) Num(key string) float64 {
	f, _ := l.Fields[key].(float64)
	return f
}

// LogBuffer collects a stream's lines; it is an io.Writer safe for
// concurrent use, and lets callers wait for a line.
type LogBuffer struct {
	tee io.Writer

	mu      sync.Mutex
	partial []byte
	lines   []LogLine
	lost    int           // lines beyond maxLogLines
	changed chan struct{} // closed and replaced when a line arrives or the stream ends
	ended   bool
}

// NewLogBuffer returns an empty buffer that also copies to tee when not nil.
func NewLogBuffer(tee io.Writer) *LogBuffer {
	return &LogBuffer{tee: tee, changed: make(chan struct{})}
}

// Write splits b into lines.
func (b *LogBuffer) Write(p []byte) (int, error) {
	if b.tee != nil {
		_, _ = b.tee.Write(p)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.partial = append(b.partial, p...)
	added := false
	for {
		i := bytes.IndexByte(b.partial, '\n')
		if i < 0 {
			break
		}
		b.addLocked(b.partial[:i])
		b.partial = b.partial[i+1:]
		added = true
	}
	if len(b.partial) > maxLogLineSize {
		b.addLocked(b.partial)
		b.partial = nil
		added = true
	}
	if added {
		b.notifyLocked()
	}
	return len(p), nil
}

func (b *LogBuffer) addLocked(raw []byte) {
	if len(b.lines) >= maxLogLines {
		b.lost++
		return
	}
	l := LogLine{Raw: string(bytes.TrimRight(raw, "\r"))}
	if strings.HasPrefix(l.Raw, "{") {
		var f map[string]any
		if json.Unmarshal([]byte(l.Raw), &f) == nil {
			l.Fields = f
		}
	}
	b.lines = append(b.lines, l)
}

func (b *LogBuffer) notifyLocked() {
	close(b.changed)
	b.changed = make(chan struct{})
}

// finish flushes a last unterminated line and wakes waiters for good.
func (b *LogBuffer) finish() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.partial) > 0 {
		b.addLocked(b.partial)
		b.partial = nil
	}
	b.ended = true
	b.notifyLocked()
}

// Lines returns a copy of the lines so far.
func (b *LogBuffer) Lines() []LogLine {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]LogLine(nil), b.lines...)
}

// String is every line so far, joined.
func (b *LogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var sb strings.Builder
	for _, l := range b.lines {
		sb.WriteString(l.Raw)
		sb.WriteByte('\n')
	}
	if b.lost > 0 {
		fmt.Fprintf(&sb, "(%d more lines not kept)\n", b.lost)
	}
	return sb.String()
}

// Count is how many lines match.
func (b *LogBuffer) Count(match func(LogLine) bool) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, l := range b.lines {
		if match(l) {
			n++
		}
	}
	return n
}

// Wait returns the first line matching match, waiting for it until ctx is
// done or the stream ends.
func (b *LogBuffer) Wait(ctx context.Context, match func(LogLine) bool) (LogLine, error) {
	next := 0
	for {
		b.mu.Lock()
		for ; next < len(b.lines); next++ {
			if match(b.lines[next]) {
				l := b.lines[next]
				b.mu.Unlock()
				return l, nil
			}
		}
		ch, ended := b.changed, b.ended
		b.mu.Unlock()
		if ended {
			return LogLine{}, fmt.Errorf("wait for log line: %w", io.EOF)
		}
		select {
		case <-ctx.Done():
			return LogLine{}, fmt.Errorf("wait for log line: %w", ctx.Err())
		case <-ch:
		}
	}
}
