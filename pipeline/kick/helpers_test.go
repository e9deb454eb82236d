package kick

import (
	"bytes"
	"context"
	"log/slog"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"kickwatch/pipeline"
	"kickwatch/pipeline/kick/kickfake"
)

// waitTimeout bounds every wait in these tests; nothing should take close to it.
const waitTimeout = 10 * time.Second

type stateChange struct {
	id    int64
	state pipeline.ChannelState
	err   error
}

type connChange struct {
	up  bool
	err error
}

type malformed struct {
	reason string
	sample string
}

// recHandler records what the transport reports, on buffered channels.
type recHandler struct {
	prefilter func([]byte) bool
	events    chan pipeline.Event
	malformed chan malformed
	states    chan stateChange
	conns     chan connChange
}

func newRecHandler() *recHandler {
	return &recHandler{
		events:    make(chan pipeline.Event, 1000),
		malformed: make(chan malformed, 1000),
		states:    make(chan stateChange, 1000),
		conns:     make(chan connChange, 1000),
	}
}

func (h *recHandler) Prefilter(raw []byte) bool {
	if h.prefilter == nil {
		return false
	}
	return h.prefilter(raw)
}

func (h *recHandler) HandleEvent(ev pipeline.Event) {
	ev.Data = bytes.Clone(ev.Data)
	h.events <- ev
}

func (h *recHandler) Malformed(source, reason string, sample []byte) {
	h.malformed <- malformed{reason: reason, sample: string(sample)}
}

func (h *recHandler) ChannelState(source string, id int64, st pipeline.ChannelState, err error) {
	h.states <- stateChange{id: id, state: st, err: err}
}

func (h *recHandler) Connected(source string, up bool, err error) {
	h.conns <- connChange{up: up, err: err}
}

func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitTimeout):
		t.Fatalf("timed out waiting for %s", what)
		var zero T
		return zero
	}
}

// waitState waits for chatroom id to reach state, skipping other reports.
func (h *recHandler) waitState(t *testing.T, id int64, st pipeline.ChannelState) stateChange {
	t.Helper()
	for {
		sc := recv(t, h.states, "channel state "+st.String())
		if sc.id == id && sc.state == st {
			return sc
		}
	}
}

// waitStates waits until every channel in ids has reported st, in any order.
func (h *recHandler) waitStates(t *testing.T, st pipeline.ChannelState, ids ...int64) {
	t.Helper()
	left := map[int64]bool{}
	for _, id := range ids {
		left[id] = true
	}
	for len(left) > 0 {
		sc := recv(t, h.states, "channel state "+st.String())
		if sc.state == st {
			delete(left, sc.id)
		}
	}
}

// waitConn waits for a Connected report with up.
func (h *recHandler) waitConn(t *testing.T, up bool) connChange {
	t.Helper()
	for {
		c := recv(t, h.conns, "connected report")
		if c.up == up {
			return c
		}
	}
}

// waitRecorder is an Options.After that fires at once and records each wait.
type waitRecorder struct {
	waits chan time.Duration
}

func newWaitRecorder() *waitRecorder { return &waitRecorder{waits: make(chan time.Duration, 10000)} }

func (w *waitRecorder) After(d time.Duration) <-chan time.Time {
	select {
	case w.waits <- d:
	default:
	}
	ch := make(chan time.Time, 1)
	ch <- time.Now()
	return ch
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type env struct {
	fake *kickfake.Server
	srv  *httptest.Server
	tr   *Transport
	h    *recHandler
	wr   *waitRecorder
	logs *syncBuffer
	ctx  context.Context
}

// setup starts a fake and a transport against it; mod adjusts the options.
func setup(t *testing.T, fo kickfake.Options, mod func(*Options)) *env {
	t.Helper()
	e := &env{fake: kickfake.New(fo), h: newRecHandler(), wr: newWaitRecorder(), logs: &syncBuffer{}}
	e.srv = httptest.NewServer(e.fake.Handler())
	t.Cleanup(e.srv.Close)
	o := Options{
		URL:                  e.fake.SocketURL(e.srv.URL),
		PingInterval:         time.Hour,
		PongTimeout:          time.Hour,
		BackoffInitial:       time.Millisecond,
		BackoffMax:           5 * time.Millisecond,
		MinReconnectInterval: time.Nanosecond,
		Logger:               slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		After:                e.wr.After,
	}
	if mod != nil {
		mod(&o)
	}
	e.tr = New(o)
	e.ctx = t.Context()
	return e
}

// run starts Run and stops it at cleanup.
func (e *env) run(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- e.tr.Run(ctx, e.h) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run returned %v, want nil", err)
		}
	})
}

func waitCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	t.Cleanup(cancel)
	return ctx
}
