package ingest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"kickwatch/pipeline"
	"kickwatch/pipeline/kick"
	"kickwatch/pipeline/kick/kickfake"
	"kickwatch/pipeline/match"
	"kickwatch/store"
)

// framesDir holds the recorded frames shared by the packages that read chat.
const framesDir = "../../testdata/frames"

// waitTimeout bounds every wait in these tests; nothing should come close.
const waitTimeout = 10 * time.Second

// The watched user of these tests, as in testdata/frames/expected.json.
const (
	testUser   = "Target_User"
	testUserID = 72805522
	testRoom   = 2346570
	testSlug   = "streamer"
)

// expectation is testdata/frames/expected.json.
type expectation struct {
	Note      string `json:"note"`
	Username  string `json:"username"`
	UserID    int64  `json:"user_id"`
	BareNames bool   `json:"bare_names"`
	Channels  []struct {
		Slug       string `json:"slug"`
		ChatroomID int64  `json:"chatroom_id"`
	} `json:"channels"`
	Counters  map[string]uint64 `json:"counters"`
	Kinds     map[string]uint64 `json:"kinds"`
	Malformed map[string]uint64 `json:"malformed"`
	Messages  []expectedMessage `json:"messages"`
}

type expectedMessage struct {
	ID         string         `json:"id"`
	Kind       *pipeline.Kind `json:"kind"`
	Rule       string         `json:"rule"`
	Sender     string         `json:"sender"`
	Channel    string         `json:"channel"`
	ChatroomID int64          `json:"chatroom_id"`
	Content    string         `json:"content"`
	ReplyTo    *struct {
		ID      string `json:"id"`
		Sender  string `json:"sender"`
		Content string `json:"content"`
	} `json:"reply_to"`
	Note string `json:"note"`
}

func loadExpected(t testing.TB) expectation {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(framesDir, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var e expectation
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		t.Fatalf("expected.json: %v", err)
	}
	return e
}

// loadFrames reads one JSONL file of recorded frames.
func loadFrames(t testing.TB, name string) [][]byte {
	t.Helper()
	f, err := os.Open(filepath.Join(framesDir, name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out [][]byte
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		if line := bytes.TrimSpace(sc.Bytes()); len(line) > 0 {
			out = append(out, bytes.Clone(line))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if len(out) == 0 {
		t.Fatalf("%s: no frames", name)
	}
	return out
}

// frameFiles are the recorded frame files, all of which the golden test feeds.
var frameFiles = []string{"chat_2023.jsonl", "chat_2025.jsonl", "other_events.jsonl", "protocol.jsonl"}

func newTestMatcher(t testing.TB, o match.Options) *match.Matcher {
	t.Helper()
	if o.Username == "" {
		o.Username, o.UserID = testUser, testUserID
	}
	m, err := match.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func openStore(t testing.TB) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "kickwatch.db"),
		store.Options{Sinks: []string{"test"}, Synchronous: "normal"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Error(err)
		}
	})
	return st
}

// storedMentions reads every row of the outbox, by message id.
func storedMentions(t testing.TB, st *store.Store) map[string]pipeline.Mention {
	t.Helper()
	rows, err := st.History(context.Background(), time.Time{}, 100000)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]pipeline.Mention{}
	for _, r := range rows {
		m, err := pipeline.DecodeMention(r.Payload)
		if err != nil {
			t.Fatalf("row %d: %v", r.ID, err)
		}
		if r.Key != m.MessageID || r.Channel != m.Channel {
			t.Errorf("row key/channel %q/%q, payload %q/%q", r.Key, r.Channel, m.MessageID, m.Channel)
		}
		if _, dup := out[r.Key]; dup {
			t.Errorf("key %s stored twice", r.Key)
		}
		out[r.Key] = m
	}
	return out
}

// recOutbox wraps an Outbox: it counts commits, can hold them at a gate and
// can fail the first few.
type recOutbox struct {
	inner Outbox

	mu      sync.Mutex
	gate    chan struct{} // when set, EnqueueBatch waits until it is closed
	failN   int           // fail this many calls before passing them on
	failErr error
	st      recStats
	changed chan struct{} // closed and replaced on every change
}

type recStats struct {
	calls    int         // EnqueueBatch calls
	commits  int         // calls that succeeded
	items    int         // items in successful calls
	sizes    []int       // items per successful call
	entered  int         // calls that reached the gate
	at       []time.Time // time.Now at each call
	ctxDone  int         // calls whose ctx was already done
	inFlight int
}

func newRecOutbox(inner Outbox) *recOutbox {
	return &recOutbox{inner: inner, changed: make(chan struct{})}
}

func (r *recOutbox) notifyLocked() {
	close(r.changed)
	r.changed = make(chan struct{})
}

func (r *recOutbox) EnqueueBatch(ctx context.Context, items []store.Item) (store.EnqueueResult, error) {
	r.mu.Lock()
	r.st.calls++
	r.st.at = append(r.st.at, time.Now())
	if ctx.Err() != nil {
		r.st.ctxDone++
	}
	gate := r.gate
	fail := r.failN > 0
	if fail {
		r.failN--
	}
	r.st.entered++
	r.st.inFlight++
	r.notifyLocked()
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.st.inFlight--
		r.notifyLocked()
		r.mu.Unlock()
	}()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return store.EnqueueResult{}, fmt.Errorf("enqueue: %w", ctx.Err())
		}
	}
	if fail {
		return store.EnqueueResult{}, r.failErr
	}
	res, err := r.inner.EnqueueBatch(ctx, items)
	if err == nil {
		r.mu.Lock()
		r.st.commits++
		r.st.items += len(items)
		r.st.sizes = append(r.st.sizes, len(items))
		r.notifyLocked()
		r.mu.Unlock()
	}
	return res, err
}

func (r *recOutbox) stats() recStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.st
	st.sizes = append([]int(nil), st.sizes...)
	st.at = append([]time.Time(nil), st.at...)
	return st
}

// wait blocks until cond holds or ctx is done.
func (r *recOutbox) wait(t testing.TB, ctx context.Context, what string, cond func(recStats) bool) recStats {
	t.Helper()
	for {
		r.mu.Lock()
		st := r.st
		ch := r.changed
		r.mu.Unlock()
		if cond(st) {
			return r.stats()
		}
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v (outbox %+v)", what, ctx.Err(), st)
		case <-ch:
		}
	}
}

// logRec records log records.
type logRec struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (h *logRec) Enabled(context.Context, slog.Level) bool { return true }
func (h *logRec) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *logRec) WithGroup(string) slog.Handler            { return h }
func (h *logRec) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	h.recs = append(h.recs, r.Clone())
	h.mu.Unlock()
	return nil
}

// count is the number of records at level whose message starts with prefix.
func (h *logRec) count(level slog.Level, prefix string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, r := range h.recs {
		if r.Level == level && strings.HasPrefix(r.Message, prefix) {
			n++
		}
	}
	return n
}

// feeder hands raw frames to a Handler the way pipeline/kick's read loop
// does: Prefilter on the raw bytes, then the kick Decoder, then protocol
// events stay in the transport, channel events on chatrooms.{id}.v2 go to
// HandleEvent and everything else to Malformed with the transport's reason.
type feeder struct {
	h        pipeline.Handler
	dec      kick.Decoder
	now      func() time.Time
	protocol int // frames the transport keeps to itself
	refused  int // frames handed to Malformed
}

func newFeeder(h pipeline.Handler) *feeder { return &feeder{h: h, now: time.Now} }

func (f *feeder) feed(raw []byte) {
	if f.h.Prefilter(raw) {
		return
	}
	fr, err := f.dec.Decode(raw)
	if err != nil {
		reason := kick.ReasonJSON
		var fe *kick.FrameError
		if errors.As(err, &fe) {
			reason = fe.Reason
		}
		f.malformed(reason, raw)
		return
	}
	if strings.HasPrefix(fr.Event, "pusher:") || strings.HasPrefix(fr.Event, "pusher_internal:") {
		f.protocol++
		return
	}
	if fr.Channel == nil {
		f.malformed(kick.ReasonType, raw)
		return
	}
	id, ok := kick.ChatroomID(fr.Channel)
	if !ok {
		f.malformed(kick.ReasonChannel, raw)
		return
	}
	if d := bytes.TrimSpace(fr.Data); len(d) < 2 || d[0] != '{' || d[len(d)-1] != '}' {
		f.malformed(kick.ReasonType, raw)
		return
	}
	f.h.HandleEvent(pipeline.Event{Source: kick.Source, ChatroomID: id, Name: fr.Event, Data: fr.Data, Received: f.now()})
}

func (f *feeder) malformed(reason string, raw []byte) {
	f.refused++
	f.h.Malformed(kick.Source, reason, raw[:min(len(raw), 256)])
}

// chatFrame is a Pusher chat frame as Kick sends it (PHP escaping, data
// double encoded) for message id on chatroom room.
func chatFrame(room int64, id, sender, content string) []byte {
	data, err := json.Marshal(map[string]any{
		"id": id, "chatroom_id": room, "content": content, "type": "message",
		"created_at": "2025-08-20T07:07:44+00:00",
		"sender": map[string]any{"id": 4815162, "username": sender, "slug": strings.ToLower(sender),
			"identity": map[string]any{"color": "#DEB2FF", "badges": []any{}}},
		"metadata": map[string]any{"message_ref": "1755673663786"},
	})
	if err != nil {
		panic(err) // a map of strings and numbers always encodes
	}
	return kickfake.EncodeFrame(kick.ChannelName(room), kick.EventChatMessage, data)
}

// mentionFrame is a chat frame on testRoom that mentions the test user.
func mentionFrame(id string) []byte {
	return chatFrame(testRoom, id, "Viewer_One", "hey @"+testUser+" look "+id)
}

func msgID(prefix string, i int) string { return fmt.Sprintf("%s-%04d", prefix, i) }

// run starts in.Run and returns a stop function that cancels it and waits
// for it to return (the flush included).
func run(t testing.TB, in *Ingest) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- in.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(waitTimeout):
				t.Fatalf("Run did not return %v after its ctx was cancelled", waitTimeout)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func testChannels() []pipeline.Channel {
	return []pipeline.Channel{{Slug: testSlug, ChatroomID: testRoom}}
}

// channelSnap returns the snapshot of the channel with chatroom id room.
func channelSnap(t testing.TB, s Snapshot, room int64) ChannelSnapshot {
	t.Helper()
	for _, c := range s.Channels {
		if c.ChatroomID == room {
			return c
		}
	}
	t.Fatalf("no channel %d in snapshot", room)
	return ChannelSnapshot{}
}
