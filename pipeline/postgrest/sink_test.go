package postgrest

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"kickwatch/pipeline"
)

func uuid() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

var (
	sent     = time.Date(2026, 3, 4, 5, 6, 7, 890000000, time.UTC)
	received = sent.Add(1500 * time.Millisecond)
)

func mention(kind pipeline.Kind, content string) pipeline.Mention {
	m := pipeline.Mention{
		MessageID: uuid(), ChatroomID: 668, Channel: "xqc", SenderID: 4242, Sender: "Viewer_1",
		Content: content, Kind: kind, CreatedAt: sent, ReceivedAt: received, Source: "test",
	}
	if kind == pipeline.KindReply {
		m.ReplyToSender, m.ReplyToMessage, m.ReplyToID = "me", "what I said", uuid()
	}
	return m
}

func mentions(n int) []pipeline.Mention {
	ms := make([]pipeline.Mention, n)
	for i := range ms {
		ms[i] = mention(pipeline.KindMention, fmt.Sprintf("hey @me #%d", i))
	}
	return ms
}

func newSink(t *testing.T, o Options) *Sink {
	t.Helper()
	s, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

func fakeSink(t *testing.T, f *fakePostgREST) *Sink {
	return newSink(t, Options{URL: f.url(), APIKey: fakeKey})
}

// checkSecretFree fails when an error holds the key or the table URL.
func checkSecretFree(t *testing.T, res []pipeline.Result) {
	t.Helper()
	for i, r := range res {
		if r.Err == nil {
			continue
		}
		msg := r.Err.Error()
		if strings.Contains(msg, fakeKey) || strings.Contains(msg, "/rest/v1/") {
			t.Errorf("result %d: error %q holds a secret or the URL", i, msg)
		}
	}
}

func outcomes(res []pipeline.Result) []pipeline.Outcome {
	out := make([]pipeline.Outcome, len(res))
	for i, r := range res {
		out[i] = r.Outcome
	}
	return out
}

func TestNew_Validates(t *testing.T) {
	for _, o := range []Options{
		{URL: ""},
		{URL: "ftp://x/rest/v1"},
		{URL: "https://x.supabase.co/rest/v1?apikey=" + fakeKey},
		{URL: "https://x.supabase.co/rest/v1", APIKey: fakeKey + "\n"},
		{URL: "https://x.supabase.co/rest/v1", Table: "a/b"},
	} {
		_, err := New(o)
		if err == nil {
			t.Errorf("New(%+v) = nil error, want one", o)
		} else if strings.Contains(err.Error(), fakeKey) {
			t.Errorf("New error %q holds the key", err)
		}
	}
	s := newSink(t, Options{URL: "https://x.supabase.co/rest/v1/"})
	if got, want := s.endpoint, "https://x.supabase.co/rest/v1/kick_notifications?on_conflict=message_id"; got != want {
		t.Errorf("endpoint=%q, want %q", got, want)
	}
	if s.Name() != "remote_db" || s.MaxBatch() != 100 {
		t.Errorf("Name, MaxBatch = %q, %d; want remote_db, 100", s.Name(), s.MaxBatch())
	}
}

func TestDeliver_RequestShape(t *testing.T) {
	f := newFake(t)
	ms := []pipeline.Mention{mention(pipeline.KindMention, "hi @me"), mention(pipeline.KindReply, "yes"),
		mention(pipeline.KindKeyword, "gg")}
	ms[2].SenderID = 0
	res := fakeSink(t, f).Deliver(t.Context(), ms)
	for i, r := range res {
		if r.Outcome != pipeline.Delivered {
			t.Fatalf("result %d = %v (%v), want delivered", i, r.Outcome, r.Err)
		}
	}
	reqs := f.requests()
	if len(reqs) != 1 {
		t.Fatalf("requests=%d, want 1", len(reqs))
	}
	r := reqs[0]
	for k, want := range map[string]string{
		"apikey": fakeKey, "Authorization": "Bearer " + fakeKey, "Content-Type": "application/json",
		"Prefer": "resolution=ignore-duplicates,return=minimal",
	} {
		if got := r.Header.Get(k); got != want {
			t.Errorf("header %s=%q, want %q", k, got, want)
		}
	}
	if r.Method != "POST" || r.Path != "/rest/v1/kick_notifications" || r.RawQuery != "on_conflict=message_id" {
		t.Errorf("request %s %s?%s, want POST /rest/v1/kick_notifications?on_conflict=message_id", r.Method, r.Path, r.RawQuery)
	}
	reply, _ := f.row(ms[1].MessageID)
	want := map[string]any{
		"message_id": ms[1].MessageID, "platform": "kick", "type": "reply", "channel": "xqc", "username": "Viewer_1",
		"message": "yes", "timestamp": "2026-03-04T05:06:07.89Z", "url": "https://kick.com/xqc",
		"original_message": "what I said", "chatroom_id": 668.0, "sender_id": 4242.0,
		"received_at": "2026-03-04T05:06:09.39Z",
	}
	for k, v := range want {
		if reply[k] != v {
			t.Errorf("reply row %s=%v, want %v", k, reply[k], v)
		}
	}
	kw, _ := f.row(ms[2].MessageID)
	if kw["original_message"] != nil || kw["sender_id"] != nil || kw["type"] != "keyword" {
		t.Errorf("keyword row = %v, want null original_message and sender_id, type keyword", kw)
	}
}

// TestDeliver_Statuses drives every answer class of reference B3/B8/B9
// through the sink.
func TestDeliver_Statuses(t *testing.T) {
	rls := pgErr("42501", `new row violates row-level security policy for table "kick_notifications"`, nil, nil)
	tests := []struct {
		name       string
		answer     canned
		want       pipeline.Outcome
		retryAfter time.Duration
		timeout    bool
		errHas     string
	}{
		{"201 minimal", canned{status: 201}, pipeline.Delivered, 0, false, ""},
		{"200 merge", canned{status: 200, body: `[]`}, pipeline.Delivered, 0, false, ""},
		{"204", canned{status: 204}, pipeline.Delivered, 0, false, ""},
		{"409 23505 null details", canned{409, nil, pgErr("23505", `duplicate key value violates unique constraint "kick_notifications_message_id_key"`, nil, nil)}, pipeline.Delivered, 0, false, ""},
		{"400 not null", canned{400, nil, pgErr("23502", `null value in column "username" violates not-null constraint`, "Failing row contains (…).", nil)}, pipeline.Permanent, 0, false, "23502"},
		{"400 bad input", canned{400, nil, pgErr("22P02", `invalid input syntax for type bigint: "x"`, nil, nil)}, pipeline.Permanent, 0, false, "22P02"},
		{"400 too long", canned{400, nil, pgErr("22001", `value too long for type character varying(25)`, nil, nil)}, pipeline.Permanent, 0, false, "value too long"},
		{"400 invalid json", canned{400, nil, pgErr("PGRST102", "Empty or invalid json", nil, nil)}, pipeline.Permanent, 0, false, "PGRST102"},
		{"409 foreign key", canned{409, nil, pgErr("23503", "insert or update violates foreign key constraint", nil, nil)}, pipeline.Permanent, 0, false, "23503"},
		{"413", canned{413, nil, "<html>Request Entity Too Large</html>"}, pipeline.Permanent, 0, false, "413"},
		{"400 column missing", canned{400, nil, pgErr("PGRST204", "Column 'received_at' of relation 'kick_notifications' does not exist", nil, nil)}, pipeline.Misconfigured, 0, false, "lacks a column"},
		{"400 no unique", canned{400, nil, pgErr("42P10", "there is no unique or exclusion constraint matching the ON CONFLICT specification", nil, nil)}, pipeline.Misconfigured, 0, false, "unique constraint on message_id"},
		{"400 role missing", canned{400, nil, pgErr("22023", `role "nosuchrole" does not exist`, nil, nil)}, pipeline.Misconfigured, 0, false, "role that does not exist"},
		{"401 jwt", canned{401, map[string]string{"WWW-Authenticate": `Bearer error="invalid_token", error_description="JWT expired"`}, pgErr("PGRST301", "JWT expired", nil, nil)}, pipeline.Misconfigured, 0, false, "API key was refused"},
		{"401 jwt v13", canned{401, nil, pgErr("PGRST303", "JWT expired", nil, nil)}, pipeline.Misconfigured, 0, false, "API key was refused"},
		{"401 gateway invalid key", canned{401, nil, `{"message":"Invalid API key","hint":"Double check your Supabase anon or service_role API key."}`}, pipeline.Misconfigured, 0, false, "Invalid API key"},
		{"401 anon rls", canned{401, map[string]string{"WWW-Authenticate": "Bearer"}, rls}, pipeline.Misconfigured, 0, false, "SELECT policy"},
		{"401 anon no grant", canned{401, map[string]string{"WWW-Authenticate": "Bearer"}, pgErr("42501", "permission denied for table kick_notifications", nil, nil)}, pipeline.Misconfigured, 0, false, "GRANT SELECT, INSERT"},
		{"403 no grant", canned{403, nil, pgErr("42501", "permission denied for table kick_notifications", nil, nil)}, pipeline.Misconfigured, 0, false, "GRANT"},
		{"404 v12", canned{404, nil, `{}`}, pipeline.Misconfigured, 0, false, "not found"},
		{"404 v13", canned{404, nil, pgErr("PGRST205", "Could not find the table 'public.kick_notifications' in the schema cache", nil, nil)}, pipeline.Misconfigured, 0, false, "not found"},
		{"406 schema", canned{406, nil, pgErr("PGRST106", "The schema must be one of the following: public", nil, nil)}, pipeline.Misconfigured, 0, false, "schema is not exposed"},
		{"302", canned{302, map[string]string{"Location": "https://elsewhere/"}, ""}, pipeline.Misconfigured, 0, false, "redirects"},
		{"429", canned{429, map[string]string{"Retry-After": "7"}, `{"message":"Too many requests"}`}, pipeline.RateLimited, 7 * time.Second, false, "429"},
		{"503 db down", canned{503, map[string]string{"Retry-After": "2"}, pgErr("PGRST000", "Database connection error. Retrying the connection.", `connection to server at "127.0.0.1", port 55432 failed`, nil)}, pipeline.Retry, 2 * time.Second, false, "PGRST000"},
		{"503 schema cache", canned{503, nil, pgErr("PGRST002", "Could not query the database for the schema cache. Retrying.", nil, nil)}, pipeline.Retry, 0, false, "PGRST002"},
		{"504 pool", canned{504, nil, pgErr("PGRST003", "Timed out acquiring connection from connection pool.", nil, nil)}, pipeline.Retry, 0, true, "PGRST003"},
		{"500", canned{500, nil, pgErr("40001", "could not serialize access", nil, nil)}, pipeline.Retry, 0, false, "40001"},
		{"502 html", canned{502, nil, "<html><body>Bad Gateway</body></html>"}, pipeline.Retry, 0, false, "Bad Gateway"},
		{"405 read only", canned{405, nil, pgErr("25006", "cannot execute INSERT in a read-only transaction", nil, nil)}, pipeline.Retry, 0, false, "read-only"},
		{"echoes key", canned{401, nil, pgErr("PGRST301", "bad token "+fakeKey, nil, nil)}, pipeline.Misconfigured, 0, false, "[redacted]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			f.then(tt.answer)
			res := fakeSink(t, f).Deliver(t.Context(), mentions(1))
			checkSecretFree(t, res)
			r := res[0]
			if r.Outcome != tt.want {
				t.Fatalf("outcome=%v (%v), want %v", r.Outcome, r.Err, tt.want)
			}
			if r.RetryAfter != tt.retryAfter || r.Timeout != tt.timeout {
				t.Errorf("retryAfter, timeout = %v, %v; want %v, %v", r.RetryAfter, r.Timeout, tt.retryAfter, tt.timeout)
			}
			if tt.errHas == "" && r.Err != nil {
				t.Errorf("err=%v, want nil", r.Err)
			}
			if tt.errHas != "" && (r.Err == nil || !strings.Contains(r.Err.Error(), tt.errHas)) {
				t.Errorf("err=%v, want it to contain %q", r.Err, tt.errHas)
			}
			if n := len(f.requests()); n != 1 {
				t.Errorf("requests=%d, want 1", n)
			}
		})
	}
}

func TestDeliver_SplitIsolatesBadRow(t *testing.T) {
	for _, bad := range [][]int{{0}, {6}, {9}, {2, 7}} {
		t.Run(fmt.Sprint(bad), func(t *testing.T) {
			f := newFake(t)
			ms := mentions(10)
			for _, i := range bad {
				ms[i].Content = strings.Repeat("x", 501)
			}
			res := fakeSink(t, f).Deliver(t.Context(), ms)
			checkSecretFree(t, res)
			for i, r := range res {
				want := pipeline.Delivered
				if containsInt(bad, i) {
					want = pipeline.Permanent
					var ae *APIError
					if !errors.As(r.Err, &ae) || ae.Code != "23514" || !strings.Contains(r.Err.Error(), "message_max_500") {
						t.Errorf("row %d err=%v, want the 23514 body", i, r.Err)
					}
				}
				if r.Outcome != want {
					t.Errorf("row %d outcome=%v (%v), want %v", i, r.Outcome, r.Err, want)
				}
				if _, ok := f.row(ms[i].MessageID); ok == (want == pipeline.Permanent) {
					t.Errorf("row %d stored=%v, want %v", i, ok, want == pipeline.Delivered)
				}
			}
			// Bisection: at most 2 requests per level for each bad row.
			if got, limit := len(f.requests()), 1+2*4*len(bad); got > limit {
				t.Errorf("requests=%d, want ≤ %d", got, limit)
			}
		})
	}
}

func containsInt(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// Without on_conflict applied a duplicate fails the whole statement (409
// 23505): the other rows were not inserted and must not be reported
// delivered before they are.
func TestDeliver_DuplicateWithoutOnConflictSplits(t *testing.T) {
	f := newFake(t)
	f.dropOnConflict = true
	s := fakeSink(t, f)
	ms := mentions(5)
	if res := s.Deliver(t.Context(), ms[2:3]); res[0].Outcome != pipeline.Delivered {
		t.Fatalf("first insert = %v (%v)", res[0].Outcome, res[0].Err)
	}
	res := s.Deliver(t.Context(), ms)
	for i, r := range res {
		if r.Outcome != pipeline.Delivered {
			t.Errorf("row %d outcome=%v (%v), want delivered", i, r.Outcome, r.Err)
		}
		if _, ok := f.row(ms[i].MessageID); !ok {
			t.Errorf("row %d not stored", i)
		}
	}
	if got, want := f.count(), 5; got != want {
		t.Errorf("stored=%d, want %d", got, want)
	}
}

func TestDeliver_DuplicatesInOneBatch(t *testing.T) {
	f := newFake(t)
	ms := mentions(3)
	ms = append(ms, ms[1], ms[0])
	res := fakeSink(t, f).Deliver(t.Context(), ms)
	if got := outcomes(res); len(got) != 5 {
		t.Fatalf("results=%d, want 5", len(got))
	}
	for i, r := range res {
		if r.Outcome != pipeline.Delivered {
			t.Errorf("row %d outcome=%v (%v)", i, r.Outcome, r.Err)
		}
	}
	if n := len(f.requests()[0].Rows); n != 3 {
		t.Errorf("rows sent=%d, want 3", n)
	}
}

// A transient answer in the middle of a split stops the split: the rest of
// the batch is not sent and is retried, not dead-lettered.
func TestDeliver_SplitStopsOnRetry(t *testing.T) {
	f := newFake(t)
	f.then(canned{400, nil, pgErr("23514", "check", nil, nil)},
		canned{503, map[string]string{"Retry-After": "3"}, pgErr("PGRST000", "Database connection error.", nil, nil)})
	res := fakeSink(t, f).Deliver(t.Context(), mentions(4))
	for i, r := range res {
		if r.Outcome != pipeline.Retry || r.RetryAfter != 3*time.Second {
			t.Errorf("row %d = %v after %v, want retry after 3s", i, r.Outcome, r.RetryAfter)
		}
	}
	if got, want := len(f.requests()), 2; got != want {
		t.Errorf("requests=%d, want %d", got, want)
	}
}

func TestDeliver_MoreThanMaxBatch(t *testing.T) {
	f := newFake(t)
	res := fakeSink(t, f).Deliver(t.Context(), mentions(MaxBatch+5))
	for i, r := range res {
		if r.Outcome != pipeline.Delivered {
			t.Fatalf("row %d = %v (%v)", i, r.Outcome, r.Err)
		}
	}
	reqs := f.requests()
	if len(reqs) != 2 || len(reqs[0].Rows) != MaxBatch || len(reqs[1].Rows) != 5 {
		t.Errorf("requests=%d, want 2 of %d and 5 rows", len(reqs), MaxBatch)
	}
}

func TestDeliver_GatewayKeyErrors(t *testing.T) {
	f := newFake(t)
	for _, key := range []string{"", "sb_secret_wrong"} {
		res := newSink(t, Options{URL: f.url(), APIKey: key}).Deliver(t.Context(), mentions(1))
		if r := res[0]; r.Outcome != pipeline.Misconfigured || !strings.Contains(r.Err.Error(), "API key") {
			t.Errorf("key %q: %v (%v), want misconfigured naming the API key", key, r.Outcome, r.Err)
		}
	}
}

func TestDeliver_Timeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The server notices a vanished client only once the body is read.
		io.Copy(io.Discard, r.Body)
		select { // hang until the client gives up
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // runs first: never wedge Close
	s := newSink(t, Options{URL: srv.URL + "/rest/v1", APIKey: fakeKey, Timeout: 50 * time.Millisecond})
	res := s.Deliver(t.Context(), mentions(2))
	checkSecretFree(t, res)
	for i, r := range res {
		if r.Outcome != pipeline.Retry || !r.Timeout || !errors.Is(r.Err, context.DeadlineExceeded) {
			t.Errorf("row %d = %v timeout=%v err=%v, want retry with timeout", i, r.Outcome, r.Timeout, r.Err)
		}
	}
}

func TestDeliver_TransportErrors(t *testing.T) {
	reset := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			if tc, ok := conn.(*net.TCPConn); ok {
				tc.SetLinger(0) // RST instead of FIN
			}
			conn.Close()
		}
	}))
	t.Cleanup(reset.Close)
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	for name, u := range map[string]string{"reset": reset.URL, "refused": closed.URL} {
		t.Run(name, func(t *testing.T) {
			s := newSink(t, Options{URL: u + "/rest/v1", APIKey: fakeKey})
			res := s.Deliver(t.Context(), mentions(3))
			checkSecretFree(t, res)
			for i, r := range res {
				if r.Outcome != pipeline.Retry || r.Timeout || r.Err == nil {
					t.Errorf("row %d = %v timeout=%v err=%v, want retry", i, r.Outcome, r.Timeout, r.Err)
				}
			}
		})
	}
}

func TestDeliver_CancelledContext(t *testing.T) {
	f := newFake(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	res := fakeSink(t, f).Deliver(ctx, mentions(2))
	for i, r := range res {
		if r.Outcome != pipeline.Retry || r.Timeout || !errors.Is(r.Err, context.Canceled) {
			t.Errorf("row %d = %v timeout=%v err=%v, want retry, canceled", i, r.Outcome, r.Timeout, r.Err)
		}
	}
	if n := len(f.requests()); n != 0 {
		t.Errorf("requests=%d, want 0", n)
	}
}

func TestDeliver_BodyLimit(t *testing.T) {
	f := newFake(t)
	f.then(canned{500, nil, `{"code":"XX000","message":"` + strings.Repeat("a", 1<<20) + `"}`})
	res := fakeSink(t, f).Deliver(t.Context(), mentions(1))
	if r := res[0]; r.Outcome != pipeline.Retry || len(r.Err.Error()) > 2*maxField {
		t.Errorf("outcome=%v, err length %d, want retry with a bounded error", r.Outcome, len(r.Err.Error()))
	}
}

func TestRow_JSONHasEveryColumn(t *testing.T) {
	m := mention(pipeline.KindMention, "a\x00b\xff")
	m.SenderID, m.ReceivedAt, m.CreatedAt = 0, time.Time{}, time.Time{}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	b, err := json.Marshal(NewRow(&m, now))
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	json.Unmarshal(b, &got)
	if len(got) != len(columns) {
		t.Errorf("keys=%d, want %d: %s", len(got), len(columns), b)
	}
	if got["message"] != "ab\uFFFD" || got["timestamp"] != "2026-01-02T03:04:05Z" || got["received_at"] != nil {
		t.Errorf("row = %s", b)
	}
}
