package kickhook_test

import (
	"context"
	"crypto/rsa"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"kickwatch/pipeline"
	"kickwatch/pipeline/kickhook"
	"kickwatch/pipeline/kickhook/kickhookfake"
)

// now is the receiver's clock in these tests: 16 s after mention.json's created_at.
var now = time.Date(2025, 8, 20, 7, 8, 0, 0, time.UTC)

// submitter is the pipeline side: it records what it is given.
type submitter struct {
	mu      sync.Mutex
	msgs    []*pipeline.ChatMessage
	sources []string
	err     error
	matched bool
}

func (s *submitter) submit(_ context.Context, msg *pipeline.ChatMessage, source string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return false, s.err
	}
	s.msgs = append(s.msgs, msg)
	s.sources = append(s.sources, source)
	return s.matched, nil
}

func (s *submitter) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.msgs)
}

func (s *submitter) setErr(err error) {
	s.mu.Lock()
	s.err = err
	s.mu.Unlock()
}

type harness struct {
	recv   *kickhook.Receiver
	sub    *submitter
	sender *kickhookfake.Sender
	key    *rsa.PrivateKey
}

func newHarness(t *testing.T, mod func(*kickhook.ReceiverOptions)) *harness {
	t.Helper()
	key, err := kickhookfake.TestKey()
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{sub: &submitter{matched: true}, key: key}
	o := kickhook.ReceiverOptions{
		PublicKey:    &key.PublicKey,
		MaxBodyBytes: 4 << 10,
		Submit:       h.sub.submit,
		Now:          func() time.Time { return now },
	}
	if mod != nil {
		mod(&o)
	}
	h.recv, err = kickhook.NewReceiver(o)
	if err != nil {
		t.Fatal(err)
	}
	h.sender = &kickhookfake.Sender{Key: key, URL: "http://kickwatch.test/kick/webhook", Now: func() time.Time { return now }}
	return h
}

// serve posts d to the receiver in process and returns the response.
func (h *harness) serve(t *testing.T, d kickhookfake.Delivery, mod func(*http.Request)) *httptest.ResponseRecorder {
	t.Helper()
	req, err := h.sender.Request(t.Context(), d)
	if err != nil {
		t.Fatal(err)
	}
	if mod != nil {
		mod(req)
	}
	rec := httptest.NewRecorder()
	h.recv.ServeHTTP(rec, req)
	return rec
}

func mentionBody(t testing.TB) []byte {
	return readFile(t, filepath.Join("testdata", "bodies", "mention.json"))
}

func TestReceiver_AcceptsSignedChatMessage(t *testing.T) {
	h := newHarness(t, func(o *kickhook.ReceiverOptions) {
		o.ChatroomID = func(slug string) int64 {
			if slug == "some-streamer" {
				return 2346570
			}
			return 0
		}
	})
	rec := h.serve(t, kickhookfake.Delivery{Body: mentionBody(t)}, nil)
	if got, want := rec.Code, http.StatusOK; got != want {
		t.Fatalf("status=%d, want %d (%s)", got, want, rec.Body)
	}
	if got, want := h.sub.count(), 1; got != want {
		t.Fatalf("submits=%d, want %d", got, want)
	}
	msg := h.sub.msgs[0]
	if got, want := msg.ID, "0b6a1f3e-5c2d-4b8e-9a51-7d2c9e4f1a20"; got != want {
		t.Errorf("id=%q, want %q", got, want)
	}
	if got, want := msg.ChatroomID, int64(2346570); got != want {
		t.Errorf("chatroom=%d, want %d", got, want)
	}
	if got, want := h.sub.sources[0], kickhook.SourceWebhook; got != want {
		t.Errorf("source=%q, want %q", got, want)
	}
	st := h.recv.Stats()
	if st.Accepted != 1 || st.Matched != 1 {
		t.Errorf("stats=%+v, want accepted=1 matched=1", st)
	}
}

func TestReceiver_Rejects(t *testing.T) {
	body := mentionBody(t)
	other, err := rsaKey2048(t)
	if err != nil {
		t.Fatal(err)
	}
	otherSig, err := kickhookfake.Sign(other, "01JQR5KV0QC94HMETWYNBWRW4Z", now.Format(time.RFC3339), body)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		d       kickhookfake.Delivery
		mod     func(*http.Request)
		status  int
		counter func(kickhook.Counters) uint64
	}{
		{"tampered body", kickhookfake.Delivery{Body: body}, func(r *http.Request) {
			r.Body = readCloser(strings.Replace(string(body), "Target_User", "Target_Usel", 1))
		}, 401, func(c kickhook.Counters) uint64 { return c.BadSignature }},
		{"tampered message id", kickhookfake.Delivery{Body: body}, func(r *http.Request) {
			r.Header.Set(kickhook.HeaderMessageID, "01JQR5KV0QC94HMETWYNBWRW4Z")
		}, 401, func(c kickhook.Counters) uint64 { return c.BadSignature }},
		{"tampered timestamp", kickhookfake.Delivery{Body: body}, func(r *http.Request) {
			r.Header.Set(kickhook.HeaderTimestamp, now.Add(time.Second).Format(time.RFC3339))
		}, 401, func(c kickhook.Counters) uint64 { return c.BadSignature }},
		{"other key", kickhookfake.Delivery{MessageID: "01JQR5KV0QC94HMETWYNBWRW4Z", Body: body, Signature: otherSig}, nil,
			401, func(c kickhook.Counters) uint64 { return c.BadSignature }},
		{"no signature", kickhookfake.Delivery{Body: body}, func(r *http.Request) { r.Header.Del(kickhook.HeaderSignature) },
			401, func(c kickhook.Counters) uint64 { return c.BadSignature }},
		{"no message id", kickhookfake.Delivery{Body: body}, func(r *http.Request) { r.Header.Del(kickhook.HeaderMessageID) },
			401, func(c kickhook.Counters) uint64 { return c.BadSignature }},
		{"long message id", kickhookfake.Delivery{MessageID: strings.Repeat("A", 200), Body: body}, nil,
			401, func(c kickhook.Counters) uint64 { return c.BadSignature }},
		{"stale", kickhookfake.Delivery{Timestamp: now.Add(-6 * time.Minute), Body: body}, nil,
			401, func(c kickhook.Counters) uint64 { return c.Stale }},
		{"future", kickhookfake.Delivery{Timestamp: now.Add(6 * time.Minute), Body: body}, nil,
			401, func(c kickhook.Counters) uint64 { return c.Stale }},
		{"unreadable timestamp", kickhookfake.Delivery{TimestampHeader: "Wed, 20 Aug 2025 07:08:00 GMT", Body: body}, nil,
			401, func(c kickhook.Counters) uint64 { return c.Stale }},
		{"too large by length", kickhookfake.Delivery{Body: append(body, make([]byte, 5<<10)...)}, nil,
			413, func(c kickhook.Counters) uint64 { return c.TooLarge }},
		{"too large chunked", kickhookfake.Delivery{Body: append(body, make([]byte, 5<<10)...)}, func(r *http.Request) {
			r.ContentLength = -1
		}, 413, func(c kickhook.Counters) uint64 { return c.TooLarge }},
		{"form content type", kickhookfake.Delivery{Body: body, ContentType: "application/x-www-form-urlencoded"}, nil,
			415, func(c kickhook.Counters) uint64 { return c.BadType }},
		{"text content type", kickhookfake.Delivery{Body: body, ContentType: "text/plain"}, nil,
			415, func(c kickhook.Counters) uint64 { return c.BadType }},
		{"get", kickhookfake.Delivery{Body: body}, func(r *http.Request) { r.Method = http.MethodGet },
			405, func(c kickhook.Counters) uint64 { return c.BadMethod }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nil)
			rec := h.serve(t, tt.d, tt.mod)
			if got := rec.Code; got != tt.status {
				t.Fatalf("status=%d, want %d (%s)", got, tt.status, rec.Body)
			}
			if got := h.sub.count(); got != 0 {
				t.Errorf("submits=%d, want 0", got)
			}
			if got := tt.counter(h.recv.Stats()); got != 1 {
				t.Errorf("counter=%d, want 1 (stats %+v)", got, h.recv.Stats())
			}
		})
	}
}

func TestReceiver_ContentTypeVariants(t *testing.T) {
	for _, ct := range []string{"application/json", "application/json; charset=utf-8", "Application/JSON"} {
		h := newHarness(t, nil)
		if rec := h.serve(t, kickhookfake.Delivery{Body: mentionBody(t), ContentType: ct}, nil); rec.Code != http.StatusOK {
			t.Errorf("content type %q: status=%d, want 200", ct, rec.Code)
		}
	}
	// An absent Content-Type is not a wrong one: the signature decides.
	h := newHarness(t, nil)
	rec := h.serve(t, kickhookfake.Delivery{Body: mentionBody(t)}, func(r *http.Request) { r.Header.Del("Content-Type") })
	if got, want := rec.Code, http.StatusOK; got != want {
		t.Errorf("no content type: status=%d, want %d", got, want)
	}
}

func TestReceiver_Replay(t *testing.T) {
	h := newHarness(t, nil)
	d, err := h.sender.Complete(kickhookfake.Delivery{Body: mentionBody(t)})
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []int{200, 200, 200} {
		if got := h.serve(t, d, nil).Code; got != want {
			t.Fatalf("delivery %d: status=%d, want %d", i, got, want)
		}
	}
	if got, want := h.sub.count(), 1; got != want {
		t.Fatalf("submits=%d, want %d", got, want)
	}
	if got, want := h.recv.Stats().Replay, uint64(2); got != want {
		t.Errorf("replay=%d, want %d", got, want)
	}
	// Kick's own duplicate of the chat message under a new delivery id is
	// recognised by the chat message id.
	if got := h.serve(t, kickhookfake.Delivery{Body: mentionBody(t)}, nil).Code; got != 200 {
		t.Fatalf("new delivery id: status=%d, want 200", got)
	}
	if got, want := h.sub.count(), 1; got != want {
		t.Errorf("submits=%d, want %d", got, want)
	}
	if got, want := h.recv.Stats().Replay, uint64(3); got != want {
		t.Errorf("replay=%d, want %d", got, want)
	}
	// A different chat message is handed over.
	other := readFile(t, filepath.Join("testdata", "bodies", "reply_to_user.json"))
	if got := h.serve(t, kickhookfake.Delivery{Body: other}, nil).Code; got != 200 {
		t.Fatalf("other message: status=%d, want 200", got)
	}
	if got, want := h.sub.count(), 2; got != want {
		t.Errorf("submits=%d, want %d", got, want)
	}
}

func TestReceiver_SubmitFailureIsRetried(t *testing.T) {
	h := newHarness(t, nil)
	h.sub.setErr(errors.New("database is locked"))
	d, err := h.sender.Complete(kickhookfake.Delivery{Body: mentionBody(t)})
	if err != nil {
		t.Fatal(err)
	}
	rec := h.serve(t, d, nil)
	if got, want := rec.Code, http.StatusServiceUnavailable; got != want {
		t.Fatalf("store down: status=%d, want %d", got, want)
	}
	if rec.Header().Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	// Kick's retry of the same delivery is not a replay: it is stored now.
	h.sub.setErr(nil)
	if got, want := h.serve(t, d, nil).Code, http.StatusOK; got != want {
		t.Fatalf("retry: status=%d, want %d", got, want)
	}
	if got, want := h.sub.count(), 1; got != want {
		t.Errorf("submits=%d, want %d", got, want)
	}
	st := h.recv.Stats()
	if st.SubmitError != 1 || st.Accepted != 1 || st.Replay != 0 {
		t.Errorf("stats=%+v, want submit_error=1 accepted=1 replay=0", st)
	}
}

func TestReceiver_OtherEventsIgnored(t *testing.T) {
	h := newHarness(t, nil)
	body := readFile(t, filepath.Join("testdata", "vector", "body.json"))
	rec := h.serve(t, kickhookfake.Delivery{Type: "livestream.status.updated", Body: body}, nil)
	if got, want := rec.Code, http.StatusOK; got != want {
		t.Fatalf("status=%d, want %d", got, want)
	}
	if got := h.sub.count(); got != 0 {
		t.Errorf("submits=%d, want 0", got)
	}
	if got, want := h.recv.Stats().Ignored, uint64(1); got != want {
		t.Errorf("ignored=%d, want %d", got, want)
	}
}

func TestReceiver_MalformedSignedBody(t *testing.T) {
	h := newHarness(t, nil)
	rec := h.serve(t, kickhookfake.Delivery{Body: []byte(`{"sender":{"is_anonymous":true}}`)}, nil)
	if got, want := rec.Code, http.StatusOK; got != want {
		t.Fatalf("status=%d, want %d", got, want)
	}
	if got, want := h.recv.Stats().Malformed, uint64(1); got != want {
		t.Errorf("malformed=%d, want %d", got, want)
	}
	if got := h.sub.count(); got != 0 {
		t.Errorf("submits=%d, want 0", got)
	}
}

func TestReceiver_FillsMissingFields(t *testing.T) {
	h := newHarness(t, nil)
	sent := now.Add(-30 * time.Second)
	body := readFile(t, filepath.Join("testdata", "bodies", "kicklib_anonymous.json"))
	if got := h.serve(t, kickhookfake.Delivery{Body: body, Timestamp: sent}, nil).Code; got != 200 {
		t.Fatalf("status=%d, want 200", got)
	}
	msg := h.sub.msgs[0]
	if got, want := msg.Channel, "unknown-broadcaster"; got != want {
		t.Errorf("channel=%q, want %q", got, want)
	}
	if got, want := msg.CreatedAt, sent; !got.Equal(want) {
		t.Errorf("created_at=%v, want the send time %v", got, want)
	}
	if msg.Sender != "" || msg.SenderID != 0 {
		t.Errorf("anonymous sender=%q/%d, want empty", msg.Sender, msg.SenderID)
	}
}

// The real delivery signed by Kick passes the receiver with the default key
// when the clock is set to its time.
func TestReceiver_KickVectorWithDefaultKey(t *testing.T) {
	v := loadVector(t)
	sub := &submitter{}
	recv, err := kickhook.NewReceiver(kickhook.ReceiverOptions{
		Submit: sub.submit,
		Now:    func() time.Time { return time.Date(2025, 4, 1, 7, 56, 30, 0, time.UTC) },
	})
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodPost, "/kick/webhook", strings.NewReader(string(v.body)))
	req.Header.Set("Content-Type", "application/json")
	for k, val := range v.headers {
		req.Header.Set(k, val)
	}
	rec := httptest.NewRecorder()
	recv.ServeHTTP(rec, req)
	if got, want := rec.Code, http.StatusOK; got != want {
		t.Fatalf("status=%d, want %d (%s)", got, want, rec.Body)
	}
	if got, want := recv.Stats().Ignored, uint64(1); got != want {
		t.Errorf("ignored=%d, want %d (stats %+v)", got, want, recv.Stats())
	}
}

func TestNewReceiver_NeedsSubmit(t *testing.T) {
	if _, err := kickhook.NewReceiver(kickhook.ReceiverOptions{}); err == nil {
		t.Fatal("no error without Submit")
	}
}

func TestCounters_Map(t *testing.T) {
	m := kickhook.Counters{Accepted: 3, Busy: 1}.Map()
	if got, want := len(m), 13; got != want {
		t.Errorf("len=%d, want %d", got, want)
	}
	if m["accepted"] != 3 || m["busy"] != 1 || m["replay"] != 0 {
		t.Errorf("map=%v", m)
	}
}
