package centrifugo

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"kickwatch/pipeline"
	"kickwatch/pipeline/centrifugo/centrifake"
)

// memNet is an in-memory network (net.Pipe) so tests run inside a
// testing/synctest bubble, where fake time advances when every goroutine
// is blocked: a 5-minute terminal wait takes no real time.
type memNet struct {
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newMemNet() *memNet { return &memNet{conns: make(chan net.Conn), closed: make(chan struct{})} }

func (n *memNet) Accept() (net.Conn, error) {
	select {
	case c := <-n.conns:
		return c, nil
	case <-n.closed:
		return nil, net.ErrClosed
	}
}

func (n *memNet) Close() error   { n.once.Do(func() { close(n.closed) }); return nil }
func (n *memNet) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }

func (n *memNet) dial(ctx context.Context, _, _ string) (net.Conn, error) {
	a, b := net.Pipe()
	select {
	case n.conns <- a:
		return b, nil
	case <-n.closed:
		return nil, net.ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

const fakeURL = "ws://127.0.0.1:1/connection/websocket"

// fakeEnv is a centrifake server on a memNet plus an HTTP client that
// reaches it. Create it inside the synctest bubble.
type fakeEnv struct {
	fake   *centrifake.Server
	mux    *http.ServeMux
	client *http.Client
}

func newFakeEnv(t *testing.T, opts centrifake.Options) *fakeEnv {
	t.Helper()
	n := newMemNet()
	e := &fakeEnv{fake: centrifake.New(opts), mux: http.NewServeMux()}
	e.mux.Handle("/connection/websocket", e.fake)
	srv := &http.Server{Handler: e.mux}
	go func() { _ = srv.Serve(n) }()
	tr := &http.Transport{DialContext: n.dial}
	e.client = &http.Client{Transport: tr}
	t.Cleanup(func() {
		if n := e.fake.DuplicateSubscribes(); n != 0 {
			t.Errorf("client subscribed %d times to a channel it held (error 105), want never", n)
		}
		e.fake.CloseAll(1001, "test over")
		_ = srv.Close()
		tr.CloseIdleConnections()
	})
	return e
}

// tokens is a Token func that records the client ids it was asked for.
type tokens struct {
	mu   sync.Mutex
	ids  []string
	fail func(n int) error // n counts calls from 1
}

func (tk *tokens) get(_ context.Context, clientID string) (string, error) {
	tk.mu.Lock()
	defer tk.mu.Unlock()
	tk.ids = append(tk.ids, clientID)
	if tk.fail != nil {
		if err := tk.fail(len(tk.ids)); err != nil {
			return "", err
		}
	}
	return "tok-" + clientID, nil
}

func (tk *tokens) calls() []string {
	tk.mu.Lock()
	defer tk.mu.Unlock()
	return slices.Clone(tk.ids)
}

// newTestClient builds a Client on e. Adjust cfg with mod.
func newTestClient(t *testing.T, e *fakeEnv, tk *tokens, mod func(*Config)) *Client {
	t.Helper()
	cfg := Config{
		URL:        fakeURL,
		URLPolicy:  URLPolicy{AllowLoopback: true},
		Token:      tk.get,
		HTTPClient: e.client,
	}
	if mod != nil {
		mod(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

// waitLimit bounds every wait in these tests. Inside a synctest bubble it
// is fake time: a wait that cannot be satisfied ends with a clear failure
// even while the fake's ping timers keep the bubble from ever deadlocking.
const waitLimit = 2 * time.Hour

// within runs f with a context that ends after waitLimit.
func within[T any](t *testing.T, what string, f func(ctx context.Context) (T, error)) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitLimit)
	defer cancel()
	v, err := f(ctx)
	if err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
	return v
}

// run starts c.Run and stops it (and waits for it) at cleanup.
func run(t *testing.T, c *Client, h pipeline.Handler) { t.Helper(); runFor(t, c, h, waitLimit) }

// runFor is run with limit as the bound on Run's return after the cancel.
func runFor(t *testing.T, c *Client, h pipeline.Handler, limit time.Duration) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, h) }()
	t.Cleanup(func() {
		cancel()
		timer := time.NewTimer(limit)
		defer timer.Stop()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run = %v, want nil", err)
			}
		case <-timer.C:
			t.Errorf("Run did not return within %v of the cancel", limit)
		}
	})
}

// record is an append-only log that waits consume by predicate: an entry a
// wait does not want stays for a later wait, so the order in which
// concurrent reports arrive cannot make a test miss one.
type record[T any] struct {
	limit  time.Duration // how long take waits
	mu     sync.Mutex
	all    []T
	unread []T
	added  chan struct{} // closed and replaced on add
}

func newRecord[T any](limit time.Duration) *record[T] {
	return &record[T]{limit: limit, added: make(chan struct{})}
}

func (r *record[T]) add(v T) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.all = append(r.all, v)
	r.unread = append(r.unread, v)
	close(r.added)
	r.added = make(chan struct{})
}

// snapshot returns every entry ever added.
func (r *record[T]) snapshot() []T {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.all)
}

// take waits (at most r.limit) for the first unread entry that match
// accepts, marks it read and returns it.
func (r *record[T]) take(t *testing.T, what string, match func(T) bool) T {
	t.Helper()
	timer := time.NewTimer(r.limit)
	defer timer.Stop()
	for {
		r.mu.Lock()
		for i, v := range r.unread {
			if match(v) {
				r.unread = slices.Delete(r.unread, i, i+1)
				r.mu.Unlock()
				return v
			}
		}
		added := r.added
		r.mu.Unlock()
		select {
		case <-added:
		case <-timer.C:
			t.Fatalf("no %s within %v", what, r.limit)
		}
	}
}

type stateChange struct {
	chatroom int64
	state    pipeline.ChannelState
	err      error
}

type malformedFrame struct {
	reason string
	sample string
}

type connChange struct {
	up  bool
	err error
}

// recorder is a pipeline.Handler that records everything.
type recorder struct {
	events    *record[pipeline.Event]
	malformed *record[malformedFrame]
	states    *record[stateChange]
	conns     *record[connChange]
	offered   *record[string] // lines offered to Prefilter
	prefilter func(line []byte) bool
	onEvent   func(pipeline.Event)
}

// newRecorder returns a recorder whose waits last up to waitLimit (fake
// time in a synctest bubble).
func newRecorder() *recorder { return newRecorderWithin(waitLimit) }

// newRecorderWithin returns a recorder whose waits last up to limit.
func newRecorderWithin(limit time.Duration) *recorder {
	return &recorder{
		events:    newRecord[pipeline.Event](limit),
		malformed: newRecord[malformedFrame](limit),
		states:    newRecord[stateChange](limit),
		conns:     newRecord[connChange](limit),
		offered:   newRecord[string](limit),
	}
}

func (r *recorder) Prefilter(raw []byte) bool {
	r.offered.add(string(raw))
	return r.prefilter != nil && r.prefilter(raw)
}

func (r *recorder) HandleEvent(ev pipeline.Event) {
	ev.Data = slices.Clone(ev.Data)
	if r.onEvent != nil {
		r.onEvent(ev)
	}
	r.events.add(ev)
}

func (r *recorder) Malformed(source, reason string, sample []byte) {
	r.malformed.add(malformedFrame{reason: reason, sample: string(sample)})
}

func (r *recorder) ChannelState(source string, id int64, st pipeline.ChannelState, err error) {
	r.states.add(stateChange{chatroom: id, state: st, err: err})
}

func (r *recorder) Connected(source string, up bool, err error) {
	r.conns.add(connChange{up: up, err: err})
}

// waitState waits for chatroom id to reach state.
func (r *recorder) waitState(t *testing.T, id int64, st pipeline.ChannelState) stateChange {
	t.Helper()
	return r.states.take(t, fmt.Sprintf("chatroom %d %v", id, st), func(sc stateChange) bool {
		return sc.chatroom == id && sc.state == st
	})
}

// waitDown waits for a Connected(false, err) report and returns err.
func (r *recorder) waitDown(t *testing.T) error {
	t.Helper()
	return r.conns.take(t, "Connected(false)", func(c connChange) bool { return !c.up }).err
}

// waitUp waits for a Connected(true) report.
func (r *recorder) waitUp(t *testing.T) {
	t.Helper()
	r.conns.take(t, "Connected(true)", func(c connChange) bool { return c.up })
}

// nextEvent waits for the next event.
func (r *recorder) nextEvent(t *testing.T) pipeline.Event {
	t.Helper()
	return r.events.take(t, "event", func(pipeline.Event) bool { return true })
}

// nextMalformed waits for the next Malformed report.
func (r *recorder) nextMalformed(t *testing.T) malformedFrame {
	t.Helper()
	return r.malformed.take(t, "Malformed report", func(malformedFrame) bool { return true })
}

// nextConn waits for the fake's next connection.
func nextConn(t *testing.T, e *fakeEnv) *centrifake.Conn {
	t.Helper()
	timer := time.NewTimer(waitLimit)
	defer timer.Stop()
	select {
	case c := <-e.fake.Conns():
		return c
	case <-timer.C:
		t.Fatalf("no connection within %v", waitLimit)
		return nil
	}
}

// nextCmd waits for the next command of method on c; commands of other
// methods stay for later waits.
func nextCmd(t *testing.T, c *centrifake.Conn, method string) centrifake.Command {
	t.Helper()
	return within(t, "a "+method+" command", func(ctx context.Context) (centrifake.Command, error) {
		return c.NextCommand(ctx, method)
	})
}

// waitEnded waits until the fake's side of c has ended.
func waitEnded(t *testing.T, c *centrifake.Conn) {
	t.Helper()
	timer := time.NewTimer(waitLimit)
	defer timer.Stop()
	select {
	case <-c.Done():
	case <-timer.C:
		t.Fatalf("connection still open after %v", waitLimit)
	}
}

// alive reports whether the fake's side of c is still open.
func alive(c *centrifake.Conn) bool {
	select {
	case <-c.Done():
		return false
	default:
		return true
	}
}

// subscribed waits until every chatroom of ids is subscribed.
func subscribed(t *testing.T, r *recorder, ids ...int64) {
	t.Helper()
	for _, id := range ids {
		r.waitState(t, id, pipeline.ChannelSubscribed)
	}
}

func channels(ids ...int64) []pipeline.Channel {
	var out []pipeline.Channel
	for _, id := range ids {
		out = append(out, pipeline.Channel{Slug: "ch" + strconv.FormatInt(id, 10), ChatroomID: id, ChannelID: id * 10})
	}
	return out
}

const chatJSON = `{"id":"6d1c2f0e-0000-4000-8000-000000000001","chatroom_id":%d,"content":"hi @bob [emote:37226:KEKW]","type":"message","created_at":"2026-10-04T12:00:00+00:00","sender":{"id":1,"username":"alice","slug":"alice"}}`

func since(start time.Time) time.Duration { return time.Since(start) }
