package centrifugo

// Integration tests against a real Centrifugo v6.9.6 server, started by
// testdata/centrifugo/env.sh (make test does it):
//
//	testdata/centrifugo/env.sh start /tmp/cf1
//	set -a && . /tmp/cf1/env && set +a
//	go test -race -run Real ./pipeline/centrifugo/
//	testdata/centrifugo/env.sh stop /tmp/cf1

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"

	"kickwatch/pipeline"
	"kickwatch/pipeline/centrifugo/centrifake"
	"kickwatch/pipeline/ingest"
	"kickwatch/pipeline/match"
	"kickwatch/store"
)

// realWait bounds every wait on the real server (real time).
const realWait = 20 * time.Second

// realServer is the server env.sh started.
type realServer struct {
	ws, api, apiKey string
	secret          []byte
	hc              *http.Client
}

func newRealServer(t *testing.T) *realServer {
	t.Helper()
	ws := os.Getenv("KICKWATCH_TEST_CENTRIFUGO_WS")
	if ws == "" {
		t.Skip("KICKWATCH_TEST_CENTRIFUGO_WS is unset: no real Centrifugo server " +
			"(make test starts one; by hand: testdata/centrifugo/env.sh start DIR && set -a && . DIR/env && set +a)")
	}
	s := &realServer{
		ws:     ws,
		api:    os.Getenv("KICKWATCH_TEST_CENTRIFUGO_API"),
		apiKey: os.Getenv("KICKWATCH_TEST_CENTRIFUGO_API_KEY"),
		secret: []byte(os.Getenv("KICKWATCH_TEST_CENTRIFUGO_HMAC_SECRET")),
		hc:     &http.Client{Timeout: 10 * time.Second},
	}
	if s.api == "" || s.apiKey == "" || len(s.secret) == 0 {
		t.Fatal("KICKWATCH_TEST_CENTRIFUGO_WS is set but _API, _API_KEY or _HMAC_SECRET is not: source DIR/env from env.sh start")
	}
	return s
}

// call runs one server API method (publish, unsubscribe, disconnect).
func (s *realServer) call(t *testing.T, method string, body any) {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, s.api+"/"+method, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-API-Key", s.apiKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.hc.Do(req)
	if err != nil {
		t.Fatalf("server api %s: %v", method, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK || bytes.Contains(out, []byte(`"error"`)) {
		t.Fatalf("server api %s: HTTP %d %s", method, resp.StatusCode, out)
	}
}

// publish sends Kick's envelope on chatroom's channel; data is the value of
// pub.data as JSON (so the test controls key order and string/object data).
func (s *realServer) publish(t *testing.T, chatroom int64, data string) {
	t.Helper()
	s.call(t, "publish", map[string]any{"channel": ChannelName(chatroom), "data": json.RawMessage(data)})
}

// kickEnvelope builds pub.data: Kick's event with its data as a JSON string
// (asObject false) or as the object itself.
func kickEnvelope(event string, data any, asObject, dataFirst bool) string {
	inner, _ := json.Marshal(data)
	if !asObject {
		inner, _ = json.Marshal(string(inner))
	}
	name, _ := json.Marshal(event)
	if dataFirst {
		return fmt.Sprintf(`{"data":%s,"event":%s}`, inner, name)
	}
	return fmt.Sprintf(`{"event":%s,"data":%s}`, name, inner)
}

// realTokens issues HS256 guest tokens the server accepts, as Kick's token
// endpoint does: sub "guest:<client id>".
type realTokens struct {
	secret  []byte
	life    time.Duration
	expired int // the first this many tokens are already expired
	ids     *record[string]
}

func (tk *realTokens) get(_ context.Context, clientID string) (string, error) {
	n := len(tk.ids.snapshot())
	tk.ids.add(clientID)
	exp := time.Now().Add(tk.life)
	if n < tk.expired {
		exp = time.Now().Add(-time.Minute)
	}
	return centrifake.HS256Token(tk.secret, "guest:"+clientID, exp), nil
}

// nextID waits for the next token request and returns its client id.
func (tk *realTokens) nextID(t *testing.T) string {
	t.Helper()
	return tk.ids.take(t, "token request", func(string) bool { return true })
}

func (s *realServer) client(t *testing.T, tk *realTokens, mod func(*Config)) *Client {
	t.Helper()
	cfg := Config{
		URL:             s.ws,
		URLPolicy:       URLPolicy{AllowLoopback: true},
		Token:           tk.get,
		RefreshBefore:   time.Second,
		ChannelRetry:    100 * time.Millisecond,
		Backoff:         func() backoff.BackOff { return backoff.NewConstantBackOff(50 * time.Millisecond) },
		TerminalBackoff: func() backoff.BackOff { return backoff.NewConstantBackOff(100 * time.Millisecond) },
		Logger:          slog.New(slog.NewTextHandler(t.Output(), nil)),
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

func realChatrooms(n int) []int64 {
	var ids []int64
	for range n {
		ids = append(ids, 1+rand.Int64N(1<<40)) // apart from other runs on the same server
	}
	return ids
}

// tee hands everything to the ingest handler and records it too.
type tee struct {
	h pipeline.Handler
	r *recorder
}

func (t tee) Prefilter(raw []byte) bool { return t.h.Prefilter(raw) }
func (t tee) HandleEvent(ev pipeline.Event) {
	t.h.HandleEvent(ev)
	t.r.HandleEvent(ev)
}
func (t tee) Malformed(source, reason string, sample []byte) {
	t.h.Malformed(source, reason, sample)
	t.r.Malformed(source, reason, sample)
}
func (t tee) ChannelState(source string, id int64, st pipeline.ChannelState, err error) {
	t.h.ChannelState(source, id, st, err)
	t.r.ChannelState(source, id, st, err)
}
func (t tee) Connected(source string, up bool, err error) {
	t.h.Connected(source, up, err)
	t.r.Connected(source, up, err)
}

func chatMessage(id string, chatroom int64, content string) map[string]any {
	return map[string]any{
		"id": id, "chatroom_id": chatroom, "content": content, "type": "message",
		"created_at": "2026-11-25T12:00:00+00:00",
		"sender":     map[string]any{"id": 77, "username": "alice", "slug": "alice", "identity": map[string]any{"color": "#FF0000", "badges": []any{}}},
		"metadata":   map[string]any{"message_ref": "1764072000000"},
	}
}

// TestReal_MentionsReachTheOutbox runs the Client against the real server
// with the real ingest handler, matcher and store: publications in every
// shape Kick uses end up as mentions in the outbox, the others do not.
func TestReal_MentionsReachTheOutbox(t *testing.T) {
	srv := newRealServer(t)
	ids := realChatrooms(2)
	a, b := ids[0], ids[1]
	chs := []pipeline.Channel{{Slug: "alpha", ChatroomID: a}, {Slug: "beta", ChatroomID: b}}

	st, err := store.Open(t.Context(), filepath.Join(t.TempDir(), "kickwatch.db"), store.Options{Sinks: []string{"console"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	m, err := match.New(match.Options{Username: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	wake := make(chan struct{}, 1)
	in := ingest.New(ingest.Options{Outbox: st, Matcher: m, Wake: func() {
		select {
		case wake <- struct{}{}:
		default:
		}
	}})
	in.SetChannels(chs)
	ctx, cancel := context.WithCancel(t.Context())
	ingestDone := make(chan struct{})
	go func() { defer close(ingestDone); _ = in.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select { // Run returns once ctx is done and it flushed (≤ 5 s)
		case <-ingestDone:
		case <-time.After(realWait):
			t.Errorf("ingest did not stop within %v", realWait)
		}
	})

	r := newRecorderWithin(realWait)
	c := srv.client(t, &realTokens{secret: srv.secret, life: time.Hour, ids: newRecord[string](realWait)}, nil)
	c.SetChannels(chs)
	runFor(t, c, tee{h: in, r: r}, realWait)
	r.waitUp(t)
	subscribed(t, r, a, b)

	reply := chatMessage("m4", b, "agreed")
	reply["type"] = "reply"
	reply["metadata"] = map[string]any{
		"original_sender":  map[string]any{"id": 5, "username": "bob"},
		"original_message": map[string]any{"id": "m0", "content": "anyone?"},
	}
	const prefixed, bare = `App\Events\ChatMessageEvent`, "ChatMessageEvent"
	for _, p := range []struct {
		room int64
		data string
	}{
		{a, kickEnvelope(prefixed, chatMessage("m1", a, "hi @bob"), false, false)},
		{b, kickEnvelope(bare, chatMessage("m2", b, "hey @Bob [emote:37226:KEKW]"), true, false)},
		{a, kickEnvelope(bare, chatMessage("m3", a, "@bob look"), false, true)},
		{b, kickEnvelope(prefixed, reply, true, true)},
		{a, kickEnvelope(prefixed, chatMessage("m5", a, "nothing to see"), false, false)},
		{b, kickEnvelope(`App\Events\MessageDeletedEvent`, map[string]any{"id": "d1", "message": map[string]any{"id": "m1"}}, false, false)},
		// Not a JSON object (and naming bob, so the fast path cannot drop it).
		{b, `{"event":"App\\Events\\ChatMessageEvent","data":["@bob"]}`},
		// Sentinels: each channel delivers in order, so once these are in,
		// everything published before them was handled.
		{a, kickEnvelope(prefixed, chatMessage("m6", a, "last @bob"), false, false)},
		{b, kickEnvelope(prefixed, chatMessage("m7", b, "last @bob"), true, false)},
	} {
		srv.publish(t, p.room, p.data)
	}

	want := []string{"m1", "m2", "m3", "m4", "m6", "m7"}
	deadline := time.NewTimer(realWait)
	defer deadline.Stop()
	var got map[string]pipeline.Mention
	for {
		entries, err := st.List(t.Context(), store.Filter{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		got = map[string]pipeline.Mention{}
		for _, e := range entries {
			mn, err := pipeline.DecodeMention(e.Payload)
			if err != nil {
				t.Fatalf("outbox row %s: %v", e.Key, err)
			}
			got[e.Key] = mn
		}
		if len(got) >= len(want) {
			break
		}
		select {
		case <-wake:
		case <-deadline.C:
			t.Fatalf("outbox holds %v after %v, want %v", slices.Sorted(mapKeys(got)), realWait, want)
		}
	}
	if keys := slices.Sorted(mapKeys(got)); !slices.Equal(keys, want) {
		t.Fatalf("outbox holds %v, want %v", keys, want)
	}
	for key, mn := range got {
		wantChannel, wantKind := "alpha", pipeline.KindMention
		if mn.ChatroomID == b {
			wantChannel = "beta"
		}
		if key == "m4" {
			wantKind = pipeline.KindReply
		}
		if mn.Channel != wantChannel || mn.Kind != wantKind || mn.Source != Source || mn.Sender != "alice" {
			t.Errorf("mention %s = %+v, want channel %s, kind %s, source %s, sender alice", key, mn, wantChannel, wantKind, Source)
		}
	}
	if mf := r.malformed.take(t, "Malformed report", func(malformedFrame) bool { return true }); mf.reason != "type" {
		t.Errorf("array event data: Malformed reason %q, want type", mf.reason)
	}
	if downs := slices.DeleteFunc(r.conns.snapshot(), func(c connChange) bool { return c.up }); len(downs) != 0 {
		t.Errorf("connection dropped: %v", downs)
	}
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// TestReal_ServerControls checks the client against what a real server
// does: error 109 for an expired token, pings and token refreshes on a
// short ttl, a server-side unsubscribe, an ordinary and a terminal
// disconnect, and the Origin check.
func TestReal_ServerControls(t *testing.T) {
	srv := newRealServer(t)
	room := realChatrooms(1)[0]
	tk := &realTokens{secret: srv.secret, life: 4 * time.Second, expired: 1, ids: newRecord[string](realWait)}
	c := srv.client(t, tk, nil)
	c.SetChannels([]pipeline.Channel{{Slug: "gamma", ChatroomID: room}})
	r := newRecorderWithin(realWait)
	runFor(t, c, r, realWait)

	// An expired token: error 109, then a new token for the same client.
	if err := r.waitDown(t); !errors.Is(err, ErrTokenExpired) {
		t.Fatalf("first connect: down because %v, want ErrTokenExpired (error 109)", err)
	}
	id := tk.nextID(t)
	if got := tk.nextID(t); got != id {
		t.Errorf("after error 109: token for client %s, want the same client %s", got, id)
	}
	r.waitUp(t)
	subscribed(t, r, room)

	// ttl ≈ 3 s: each refresh comes ≥ 2 s after the last; two of them span
	// more than the server's ping interval (2 s) plus pong timeout (1 s).
	for range 2 {
		if got := tk.nextID(t); got != id {
			t.Errorf("refresh token for client %s, want the same client %s", got, id)
		}
	}
	srv.publish(t, room, kickEnvelope(`App\Events\ChatMessageEvent`, chatMessage("r1", room, "still here"), false, false))
	if ev := r.nextEvent(t); ev.ChatroomID != room || !strings.Contains(string(ev.Data), `"r1"`) {
		t.Errorf("event after refreshes: %+v %s", ev, ev.Data)
	}
	if downs := slices.DeleteFunc(r.conns.snapshot(), func(c connChange) bool { return c.up }); len(downs) != 1 {
		t.Fatalf("Connected(false) reports %v, want only the 109 one (pings and refreshes kept the connection)", downs)
	}

	// Server-side unsubscribe (code 2000): the channel is retried, the
	// connection stays.
	user := "guest:" + id
	srv.call(t, "unsubscribe", map[string]any{"user": user, "channel": ChannelName(room)})
	r.waitState(t, room, pipeline.ChannelFailed)
	subscribed(t, r, room)

	// An ordinary disconnect: reconnect as the same client.
	srv.call(t, "disconnect", map[string]any{"user": user, "disconnect": map[string]any{"code": 4000, "reason": "reconnect for test"}})
	var de *DisconnectError
	if err := r.waitDown(t); !errors.As(err, &de) || de.Code != 4000 || de.Terminal() {
		t.Fatalf("down because %v, want a non-terminal close 4000", err)
	}
	if got := tk.nextID(t); got != id {
		t.Errorf("after close 4000: token for client %s, want the same client %s", got, id)
	}
	subscribed(t, r, room)

	// A terminal disconnect (a ban): start again as a new client.
	srv.call(t, "disconnect", map[string]any{"user": user, "disconnect": map[string]any{"code": 4501, "reason": "banned for test"}})
	if err := r.waitDown(t); !errors.As(err, &de) || de.Code != 4501 || !de.Terminal() || de.Reason != "banned for test" {
		t.Fatalf("down because %v, want a terminal close 4501 \"banned for test\"", err)
	}
	if got := tk.nextID(t); got == id {
		t.Errorf("after close 4501: still client %s, want a new client id", got)
	}
	subscribed(t, r, room)

	// The Origin check: only https://kick.com.
	evil := srv.client(t, &realTokens{secret: srv.secret, life: time.Hour, ids: newRecord[string](realWait)},
		func(c *Config) { c.Origin = "https://evil.example" })
	re := newRecorderWithin(realWait)
	runFor(t, evil, re, realWait)
	if err := re.waitDown(t); err == nil || !strings.Contains(err.Error(), "HTTP 403") {
		t.Errorf("wrong Origin: down because %v, want the handshake refused with HTTP 403", err)
	}
}
