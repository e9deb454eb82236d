package postgrest

// Tests against a real PostgreSQL + PostgREST 12, started by
// testdata/postgrest/env.sh (make test does it through
// testdata/with-services.sh). The tables come from testdata/postgrest:
// schema.sql (what the README tells users to run), legacy.sql (the older
// bot's table, upgraded by schema.sql) and fixtures.sql (tables that provoke
// a refused row, a missing policy, missing grants). Every test writes rows
// with fresh message ids and deletes them afterwards, so the tests run in any
// order, any number of times, beside other packages using the same server.

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"kickwatch/pipeline"
)

// The environment env.sh writes to DIR/env.
const (
	envURL        = "KICKWATCH_TEST_POSTGREST_URL"
	envAnonKey    = "KICKWATCH_TEST_POSTGREST_KEY"
	envServiceKey = "KICKWATCH_TEST_POSTGREST_SERVICE_KEY"
	envJWTSecret  = "KICKWATCH_TEST_POSTGREST_JWT_SECRET"
)

// The tables env.sh creates.
const (
	tableMain       = "kick_notifications"             // schema.sql
	tableLegacy     = "kick_notifications_legacy"      // legacy.sql, then schema.sql over it
	tableStrict     = "kick_notifications_strict"      // CHECK (char_length(message) <= 500)
	tableInsertOnly = "kick_notifications_insert_only" // RLS with an INSERT policy only
	tableNoGrant    = "kick_notifications_no_grant"    // no privileges for anon
)

// realServer is the PostgREST that env.sh started.
type realServer struct {
	url, anonKey, serviceKey, secret string
}

func newRealServer(t *testing.T) *realServer {
	t.Helper()
	s := &realServer{
		url:        os.Getenv(envURL),
		anonKey:    os.Getenv(envAnonKey),
		serviceKey: os.Getenv(envServiceKey),
		secret:     os.Getenv(envJWTSecret),
	}
	if s.url == "" {
		t.Skip(envURL + " unset: this test needs a real PostgREST; run it through testdata/with-services.sh " +
			"(make test), or run testdata/postgrest/env.sh start DIR and source DIR/env")
	}
	if s.anonKey == "" || s.serviceKey == "" || s.secret == "" {
		t.Fatalf("%s is set but %s, %s or %s is not: source the env file testdata/postgrest/env.sh wrote",
			envURL, envAnonKey, envServiceKey, envJWTSecret)
	}
	return s
}

// jwt is an HS256 token for role, expiring at exp, signed with secret: what
// Supabase's anon and service_role keys are.
func jwt(role string, exp time.Time, secret string) string {
	enc := base64.RawURLEncoding
	claims, _ := json.Marshal(map[string]any{"role": role, "exp": exp.Unix()})
	msg := enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + enc.EncodeToString(claims)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(msg))
	return msg + "." + enc.EncodeToString(mac.Sum(nil))
}

// countingTransport counts the requests a sink sends.
type countingTransport struct{ n atomic.Int32 }

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return http.DefaultTransport.RoundTrip(r)
}

// sink is a Sink writing to table with key, and the count of its requests.
func (s *realServer) sink(t *testing.T, table, key string) (*Sink, *countingTransport) {
	t.Helper()
	ct := &countingTransport{}
	return newSink(t, Options{URL: s.url, APIKey: key, Table: table, Timeout: 10 * time.Second,
		HTTPClient: &http.Client{Transport: ct}}), ct
}

// do sends one request to PostgREST as key and returns the status and body.
func (s *realServer) do(ctx context.Context, method, path, key string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, s.url+path, nil)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	return resp.StatusCode, body, err
}

func idFilter(ids []string) string {
	return url.Values{"message_id": {"in.(" + strings.Join(ids, ",") + ")"}}.Encode()
}

// rows reads table's rows for ids as key; the tests' ids are UUIDs, which
// need no quoting in PostgREST's in.() list.
func (s *realServer) rows(t *testing.T, table, key string, ids []string) []map[string]any {
	t.Helper()
	status, body, err := s.do(t.Context(), http.MethodGet, "/"+table+"?"+idFilter(ids), key)
	if err != nil || status != http.StatusOK {
		t.Fatalf("read %s: status %d, err %v: %s", table, status, err, body)
	}
	var rows []map[string]any
	if err := json.Unmarshal(body, &rows); err != nil {
		t.Fatalf("read %s: %v: %s", table, err, body)
	}
	return rows
}

// byID indexes rows by message_id, failing on a message stored twice.
func byID(t *testing.T, rows []map[string]any) map[string]map[string]any {
	t.Helper()
	out := make(map[string]map[string]any, len(rows))
	for _, r := range rows {
		id, _ := r["message_id"].(string)
		if _, dup := out[id]; dup {
			t.Errorf("message %s stored twice", id)
		}
		out[id] = r
	}
	return out
}

// cleanup deletes the rows of ms from table when the test ends.
func (s *realServer) cleanup(t *testing.T, table string, ms []pipeline.Mention) {
	t.Helper()
	ids := messageIDs(ms)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		status, body, err := s.do(ctx, http.MethodDelete, "/"+table+"?"+idFilter(ids), s.serviceKey)
		if err != nil || status != http.StatusNoContent {
			t.Errorf("clean up %s: status %d, err %v: %s", table, status, err, body)
		}
	})
}

func messageIDs(ms []pipeline.Mention) []string {
	ids := make([]string, len(ms))
	for i := range ms {
		ids[i] = ms[i].MessageID
	}
	return ids
}

func wantAll(t *testing.T, res []pipeline.Result, want pipeline.Outcome) {
	t.Helper()
	for i, r := range res {
		if r.Outcome != want {
			t.Errorf("result %d = %v (%v), want %v", i, r.Outcome, r.Err, want)
		}
	}
}

// noSecret fails when an error holds a key or the table's URL.
func noSecret(t *testing.T, res []pipeline.Result, secrets ...string) {
	t.Helper()
	for i, r := range res {
		if r.Err == nil {
			continue
		}
		for _, s := range secrets {
			if s != "" && strings.Contains(r.Err.Error(), s) {
				t.Errorf("result %d: error %q holds a secret or the URL", i, r.Err)
			}
		}
	}
}

// TestReal_InsertAndReadBack checks the column mapping end to end: what the
// sink sends is what PostgreSQL stores, NUL and bad UTF-8 included.
func TestReal_InsertAndReadBack(t *testing.T) {
	srv := newRealServer(t)
	ms := []pipeline.Mention{
		mention(pipeline.KindMention, "hey @me 🎉 <b>&amp;</b>"),
		mention(pipeline.KindReply, "yes"),
		mention(pipeline.KindKeyword, "a\x00b\xff"),
	}
	ms[2].SenderID = 0
	ms[2].ReceivedAt = time.Time{}
	srv.cleanup(t, tableMain, ms)
	s, _ := srv.sink(t, tableMain, srv.anonKey)
	wantAll(t, s.Deliver(t.Context(), ms), pipeline.Delivered)

	got := byID(t, srv.rows(t, tableMain, srv.serviceKey, messageIDs(ms)))
	for i, m := range ms {
		row, ok := got[m.MessageID]
		if !ok {
			t.Errorf("mention %d not stored", i)
			continue
		}
		content := m.Content
		if i == 2 {
			content = "ab\uFFFD" // PostgreSQL text holds no NUL
		}
		var orig, sender, receivedAt any
		if m.Kind == pipeline.KindReply {
			orig = m.ReplyToMessage
		}
		if m.SenderID != 0 {
			sender = float64(m.SenderID)
		}
		if !m.ReceivedAt.IsZero() {
			receivedAt = m.ReceivedAt
		}
		want := map[string]any{
			"platform": "kick", "type": string(m.Kind), "channel": m.Channel, "username": m.Sender,
			"message": content, "url": "https://kick.com/" + m.Channel, "original_message": orig,
			"chatroom_id": float64(m.ChatroomID), "sender_id": sender,
			"timestamp": m.CreatedAt, "received_at": receivedAt,
		}
		for k, w := range want {
			g := row[k]
			if wt, isTime := w.(time.Time); isTime {
				// PostgREST answers "2026-03-04T05:06:07.89+00:00".
				gs, _ := g.(string)
				gt, err := time.Parse(time.RFC3339Nano, gs)
				if err != nil || !gt.Equal(wt) {
					t.Errorf("mention %d: %s=%v, want %v", i, k, g, wt)
				}
				continue
			}
			if g != w {
				t.Errorf("mention %d: %s=%#v, want %#v", i, k, g, w)
			}
		}
		if row["id"] == nil || row["created_at"] == nil {
			t.Errorf("mention %d: id=%v created_at=%v, want the defaults filled", i, row["id"], row["created_at"])
		}
	}
}

// TestReal_Idempotent: a mention delivered again (after a crash, a lost
// answer) or twice in a batch is stored once, and every copy reads
// delivered; the stored row keeps its first content (DO NOTHING, not an
// update).
func TestReal_Idempotent(t *testing.T) {
	srv := newRealServer(t)
	for _, tt := range []struct{ name, key string }{
		{"anon key", srv.anonKey},
		{"service_role key", srv.serviceKey},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ms := mentions(4)
			srv.cleanup(t, tableMain, ms)
			s, ct := srv.sink(t, tableMain, tt.key)
			wantAll(t, s.Deliver(t.Context(), ms[:2]), pipeline.Delivered)

			again := append([]pipeline.Mention{}, ms...)
			again = append(again, ms[3])
			again[0].Content = "edited on the way back"
			res := s.Deliver(t.Context(), again)
			if len(res) != len(again) {
				t.Fatalf("results=%d, want %d", len(res), len(again))
			}
			wantAll(t, res, pipeline.Delivered)
			wantAll(t, s.Deliver(t.Context(), ms), pipeline.Delivered)
			if got, want := ct.n.Load(), int32(3); got != want {
				t.Errorf("requests=%d, want %d (no split for duplicates)", got, want)
			}

			got := byID(t, srv.rows(t, tableMain, srv.serviceKey, messageIDs(ms)))
			if len(got) != len(ms) {
				t.Errorf("stored %d rows, want %d", len(got), len(ms))
			}
			if row := got[ms[0].MessageID]; row["message"] != ms[0].Content {
				t.Errorf("message=%v after a redelivery, want the first %q", row["message"], ms[0].Content)
			}
		})
	}
}

// TestReal_SchemaLetsAnonInsert proves the README's grants and policies
// (schema.sql, also run over the older bot's table) let the anon key insert
// with ignore-duplicates and read back, which needs a SELECT policy beside
// the INSERT one (TestReal_Misconfigured shows the INSERT-only failure).
func TestReal_SchemaLetsAnonInsert(t *testing.T) {
	srv := newRealServer(t)
	for _, table := range []string{tableMain, tableLegacy} {
		t.Run(table, func(t *testing.T) {
			ms := mentions(3)
			srv.cleanup(t, table, ms)
			s, _ := srv.sink(t, table, srv.anonKey)
			wantAll(t, s.Deliver(t.Context(), ms), pipeline.Delivered)
			wantAll(t, s.Deliver(t.Context(), ms[1:]), pipeline.Delivered)
			if got, want := len(byID(t, srv.rows(t, table, srv.anonKey, messageIDs(ms)))), len(ms); got != want {
				t.Errorf("anon reads %d rows, want %d", got, want)
			}
		})
	}
	// The upgrade kept the older bot's row.
	status, body, err := srv.do(t.Context(), http.MethodGet, "/"+tableLegacy+"?username=eq.old_viewer&select=message_id,message", srv.anonKey)
	if err != nil || status != http.StatusOK || !strings.Contains(string(body), `"message_id":null`) {
		t.Errorf("legacy row: status %d, err %v, body %s; want the old row with a null message_id", status, err, body)
	}
}

// TestReal_RowProblemIsolated: a row the database refuses (a CHECK) fails the
// whole statement; the sink splits the batch, dead-letters that row with the
// server's error and stores its batch-mates.
func TestReal_RowProblemIsolated(t *testing.T) {
	srv := newRealServer(t)
	for _, bad := range [][]int{{6}, {0, 9}} {
		t.Run(fmt.Sprint(bad), func(t *testing.T) {
			ms := mentions(10)
			for _, i := range bad {
				ms[i].Content = strings.Repeat("é", 501) // 501 characters, 1002 bytes
			}
			srv.cleanup(t, tableStrict, ms)
			s, ct := srv.sink(t, tableStrict, srv.anonKey)
			res := s.Deliver(t.Context(), ms)
			noSecret(t, res, srv.anonKey, srv.url)
			got := byID(t, srv.rows(t, tableStrict, srv.serviceKey, messageIDs(ms)))
			for i, r := range res {
				want := pipeline.Delivered
				if containsInt(bad, i) {
					want = pipeline.Permanent
					var ae *APIError
					if !errors.As(r.Err, &ae) || ae.Status != http.StatusBadRequest || ae.Code != "23514" ||
						!strings.Contains(ae.Message, "message_max_500") {
						t.Errorf("row %d err=%v, want 400 23514 naming message_max_500", i, r.Err)
					}
				}
				if r.Outcome != want {
					t.Errorf("row %d = %v (%v), want %v", i, r.Outcome, r.Err, want)
				}
				if _, stored := got[ms[i].MessageID]; stored != (want == pipeline.Delivered) {
					t.Errorf("row %d stored=%v, want %v", i, stored, want == pipeline.Delivered)
				}
			}
			if n, limit := ct.n.Load(), int32(1+2*4*len(bad)); n > limit {
				t.Errorf("requests=%d, want ≤ %d", n, limit)
			}
		})
	}
}

// TestReal_Misconfigured: keys, grants, policies and table names the server
// refuses read as misconfigured, with its status and code, nothing stored
// and no key in the error. The statuses are what PostgREST 12 answered here.
func TestReal_Misconfigured(t *testing.T) {
	srv := newRealServer(t)
	year := time.Now().Add(365 * 24 * time.Hour)
	tests := []struct {
		name, table, key string
		status           int
		code, errHas     string
	}{
		{"key not a JWT", tableMain, "sb_secret_not_a_jwt", 401, "PGRST301", "API key was refused"},
		{"key signed elsewhere", tableMain, jwt("anon", year, "another-secret-of-at-least-32-characters"), 401, "PGRST301", "API key was refused"},
		{"key expired", tableMain, jwt("anon", time.Now().Add(-time.Hour), srv.secret), 401, "PGRST301", "API key was refused"},
		{"key role unknown", tableMain, jwt("nosuchrole", year, srv.secret), 400, "22023", "role that does not exist"},
		{"anon without grants", tableNoGrant, srv.anonKey, 401, "42501", "GRANT SELECT, INSERT"},
		{"authenticated without grants", tableNoGrant, jwt("authenticated", year, srv.secret), 403, "42501", "GRANT SELECT, INSERT"},
		{"anon with an INSERT policy only", tableInsertOnly, srv.anonKey, 401, "42501", "SELECT policy"},
		{"unknown table", "kick_notifications_" + strings.ReplaceAll(uuid()[:8], "-", ""), srv.anonKey, 404, "", "not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms := mentions(3)
			s, ct := srv.sink(t, tt.table, tt.key)
			res := s.Deliver(t.Context(), ms)
			noSecret(t, res, tt.key, srv.url)
			wantAll(t, res, pipeline.Misconfigured)
			var ae *APIError
			if !errors.As(res[0].Err, &ae) || ae.Status != tt.status || ae.Code != tt.code {
				t.Errorf("err=%v, want status %d code %q", res[0].Err, tt.status, tt.code)
			}
			if res[0].Err == nil || !strings.Contains(res[0].Err.Error(), tt.errHas) {
				t.Errorf("err=%v, want it to say %q", res[0].Err, tt.errHas)
			}
			if got := ct.n.Load(); got != 1 {
				t.Errorf("requests=%d, want 1 (no split for a misconfiguration)", got)
			}
			if tt.status != http.StatusNotFound {
				if rows := srv.rows(t, tt.table, srv.serviceKey, messageIDs(ms)); len(rows) != 0 {
					t.Errorf("stored %d rows, want 0", len(rows))
				}
			}
		})
	}
}

// TestReal_ServerDown: nothing listening (PostgREST down, wrong port) is a
// retry, not a loss. The running server is left alone: other packages share it.
func TestReal_ServerDown(t *testing.T) {
	srv := newRealServer(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s := newSink(t, Options{URL: "http://" + addr, APIKey: srv.anonKey, Table: tableMain, Timeout: 10 * time.Second})
	res := s.Deliver(t.Context(), mentions(3))
	noSecret(t, res, srv.anonKey, "/"+tableMain)
	for i, r := range res {
		if r.Outcome != pipeline.Retry || r.Timeout || r.Err == nil || !strings.Contains(r.Err.Error(), "refused") {
			t.Errorf("result %d = %v timeout=%v err=%v, want retry, connection refused", i, r.Outcome, r.Timeout, r.Err)
		}
	}
}

// TestReal_FullBatches: a backlog larger than MaxBatch goes out in full
// batches, each one statement the server takes.
func TestReal_FullBatches(t *testing.T) {
	srv := newRealServer(t)
	ms := mentions(2*MaxBatch + 5)
	srv.cleanup(t, tableMain, ms)
	s, ct := srv.sink(t, tableMain, srv.serviceKey)
	wantAll(t, s.Deliver(t.Context(), ms), pipeline.Delivered)
	if got, want := ct.n.Load(), int32(3); got != want {
		t.Errorf("requests=%d, want %d", got, want)
	}
	if got, want := len(byID(t, srv.rows(t, tableMain, srv.serviceKey, messageIDs(ms)))), len(ms); got != want {
		t.Errorf("stored %d rows, want %d", got, want)
	}
}
