package deliver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"kickwatch/breaker"
	"kickwatch/pipeline"
	"kickwatch/store"
)

// advance moves the bubble's fake clock by d and lets every goroutine settle.
// Inside synctest, time.Sleep does not wait: it is how a test says "let d pass".
func advance(d time.Duration) {
	time.Sleep(d)
	synctest.Wait()
}

// openStore opens a real store in t's temp dir, with sinks enabled.
func openStore(t *testing.T, sinks ...string) *store.Store {
	t.Helper()
	s, err := store.Open(t.Context(), filepath.Join(t.TempDir(), "k.db"), store.Options{Sinks: sinks})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// enqueue adds one mention per key to channel ch.
func enqueue(t *testing.T, s *store.Store, ch string, keys ...string) {
	t.Helper()
	items := make([]store.Item, len(keys))
	for i, k := range keys {
		m := pipeline.Mention{MessageID: k, Channel: ch, Sender: "someone", Content: "hi @me", Kind: pipeline.KindMention}
		p, err := pipeline.EncodeMention(&m)
		if err != nil {
			t.Fatal(err)
		}
		items[i] = store.Item{Key: k, Channel: ch, Payload: p}
	}
	if _, err := s.EnqueueBatch(t.Context(), items); err != nil {
		t.Fatalf("enqueue: %v", err)
	}
}

// entries returns sink's rows by key.
func entries(t *testing.T, s *store.Store, sink string) map[string]store.Entry {
	t.Helper()
	es, err := s.List(context.WithoutCancel(t.Context()), store.Filter{Sink: sink, Limit: 10000})
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	out := make(map[string]store.Entry, len(es))
	for _, e := range es {
		out[e.Key] = e
	}
	return out
}

// call is one Deliver call a fakeSink saw.
type call struct {
	at   time.Time
	keys []string
}

// fakeSink answers Deliver calls with a script. script gets the call's
// index and mentions; nil script delivers everything.
type fakeSink struct {
	name   string
	batch  int
	script func(ctx context.Context, n int, ms []pipeline.Mention) []pipeline.Result

	mu    sync.Mutex
	calls []call
}

func (f *fakeSink) Name() string  { return f.name }
func (f *fakeSink) MaxBatch() int { return f.batch }

func (f *fakeSink) Deliver(ctx context.Context, ms []pipeline.Mention) []pipeline.Result {
	f.mu.Lock()
	n := len(f.calls)
	c := call{at: time.Now()}
	for _, m := range ms {
		c.keys = append(c.keys, m.MessageID)
	}
	f.calls = append(f.calls, c)
	script := f.script
	f.mu.Unlock()
	if script != nil {
		return script(ctx, n, ms)
	}
	return all(ms, pipeline.Result{Outcome: pipeline.Delivered})
}

func (f *fakeSink) Calls() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]call(nil), f.calls...)
}

// delivered lists the keys of every call, in order.
func (f *fakeSink) Keys() []string {
	var out []string
	for _, c := range f.Calls() {
		out = append(out, c.keys...)
	}
	return out
}

// all answers every mention with r (RemoteRef gets the message id).
func all(ms []pipeline.Mention, r pipeline.Result) []pipeline.Result {
	out := make([]pipeline.Result, len(ms))
	for i, m := range ms {
		out[i] = r
		if r.Outcome == pipeline.Delivered {
			out[i].RemoteRef = "ref-" + m.MessageID
		}
	}
	return out
}

// hang blocks until ctx is done, as a sink whose peer never answers.
func hang(ctx context.Context, ms []pipeline.Mention) []pipeline.Result {
	<-ctx.Done()
	return all(ms, pipeline.Result{Outcome: pipeline.Retry, Err: fmt.Errorf("post: %w", ctx.Err()),
		Timeout: errors.Is(ctx.Err(), context.DeadlineExceeded)})
}

// recorder is an Observer that remembers what it saw.
type recorder struct {
	NopObserver
	mu          sync.Mutex
	attempts    int
	timeouts    int
	outcomes    map[pipeline.Outcome]int
	dead        int
	rateLimited time.Duration
	breaker     []string
	pauses      []string
}

func newRecorder() *recorder { return &recorder{outcomes: map[pipeline.Outcome]int{}} }

func (r *recorder) Attempt(_ string, _ int, _ time.Duration, timedOut bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.attempts++
	if timedOut {
		r.timeouts++
	}
}

func (r *recorder) Outcome(_ string, o pipeline.Outcome, n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.outcomes[o] += n
}

func (r *recorder) DeadLettered(_ string, n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.dead += n
}

func (r *recorder) RateLimited(_ string, d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rateLimited += d
}

func (r *recorder) BreakerChanged(_ string, from, to breaker.State) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.breaker = append(r.breaker, from.String()+">"+to.String())
}

func (r *recorder) Paused(_, reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pauses = append(r.pauses, "pause:"+reason)
}

func (r *recorder) Resumed(_, reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pauses = append(r.pauses, "resume:"+reason)
}

// rig is a worker on a real store and breaker, run in the test's bubble.
type rig struct {
	t     *testing.T
	store *store.Store
	sink  *fakeSink
	brk   *breaker.Breaker
	obs   *recorder
	logs  *syncBuffer
	w     *Worker
	stop  context.CancelFunc
	done  chan error
}

// newRig builds a worker for sink; edit tweaks the options first.
func newRig(t *testing.T, sink *fakeSink, edit func(*WorkerOptions)) *rig {
	t.Helper()
	r := &rig{t: t, store: openStore(t, sink.name), sink: sink, obs: newRecorder(), logs: &syncBuffer{}}
	r.brk = breaker.New(breaker.Settings{Name: sink.name, FailureThreshold: 1000})
	o := WorkerOptions{
		Sink: sink, Outbox: r.store, Breaker: r.brk, Observer: r.obs,
		Timeout: 12 * time.Second, PollInterval: time.Hour, ReprobeInterval: -1,
		Rand:   func() float64 { return 0.5 },
		Logger: slog.New(slog.NewTextHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if edit != nil {
		edit(&o)
	}
	if o.Breaker != Breaker(r.brk) {
		r.brk = nil
	}
	r.w = NewWorker(o)
	return r
}

// start runs the worker until the test ends (or stop).
func (r *rig) start() {
	ctx, cancel := context.WithCancel(r.t.Context())
	r.stop, r.done = cancel, make(chan error, 1)
	go func() { r.done <- r.w.Run(ctx) }()
	r.t.Cleanup(func() { cancel(); <-r.done })
	synctest.Wait()
}

// shutdown cancels Run and waits for it to return nil.
func (r *rig) shutdown() {
	r.t.Helper()
	r.stop()
	if err := <-r.done; err != nil {
		r.t.Fatalf("Run = %v, want nil", err)
	}
	r.done <- nil // for the cleanup
}

func keys(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%03d", prefix, i)
	}
	return out
}

// syncBuffer collects log output from several goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// Lines returns the logged lines containing s.
func (b *syncBuffer) Lines(s string) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, l := range strings.Split(b.buf.String(), "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return out
}
