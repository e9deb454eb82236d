package postgrest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
)

// fakeKey is the API key the fake accepts; tests check it never leaks.
const fakeKey = "eyJhbGciOiJIUzI1NiJ9.c2VjcmV0LWtleS1kby1ub3QtbGVhaw.sig-7f3a9c"

// canned is a scripted answer, with the status, headers and body PostgREST
// or the Supabase gateway really send (reference B3, B4, B6, B8, B9).
type canned struct {
	status int
	header map[string]string
	body   string // a JSON error object unless noted
}

// pgErr is a PostgREST error body: always the four keys, null where absent.
func pgErr(code, message string, details, hint any) string {
	b, _ := json.Marshal(map[string]any{"code": code, "message": message, "details": details, "hint": hint})
	return string(b)
}

// fakeRequest is what the fake saw of one request.
type fakeRequest struct {
	Method, Path, RawQuery string
	Header                 http.Header
	Rows                   []map[string]any
}

// fakePostgREST is a PostgREST 12 table endpoint behind the Supabase gateway:
// path /rest/v1/kick_notifications, a unique message_id, all-or-nothing
// statements, and a CHECK on message length (char_length ≤ maxMessage).
type fakePostgREST struct {
	t          *testing.T
	srv        *httptest.Server
	maxMessage int
	// dropOnConflict makes the fake ignore ?on_conflict (as if a proxy ate
	// the query): a duplicate then fails the statement with 409 23505.
	dropOnConflict bool

	mu     sync.Mutex
	stored map[string]map[string]any
	reqs   []fakeRequest
	script []canned // answered first, in order, before the table logic
}

func newFake(t *testing.T) *fakePostgREST {
	t.Helper()
	f := &fakePostgREST{t: t, maxMessage: 500, stored: map[string]map[string]any{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakePostgREST) url() string { return f.srv.URL + "/rest/v1" }

func (f *fakePostgREST) then(c ...canned) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.script = append(f.script, c...)
}

func (f *fakePostgREST) requests() []fakeRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.reqs)
}

func (f *fakePostgREST) row(id string) (map[string]any, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.stored[id]
	return r, ok
}

func (f *fakePostgREST) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.stored)
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	io.WriteString(w, body)
}

var columns = []string{"message_id", "platform", "type", "channel", "username", "message", "timestamp",
	"url", "original_message", "chatroom_id", "sender_id", "received_at"}

func (f *fakePostgREST) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	var rows []map[string]any
	arrayErr := json.Unmarshal(body, &rows)

	f.mu.Lock()
	defer f.mu.Unlock()
	f.reqs = append(f.reqs, fakeRequest{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Clone(), rows})
	if len(f.script) > 0 {
		c := f.script[0]
		f.script = f.script[1:]
		for k, v := range c.header {
			w.Header().Set(k, v)
		}
		if c.body != "" && w.Header().Get("Content-Type") == "" {
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
		}
		w.WriteHeader(c.status)
		io.WriteString(w, c.body)
		return
	}

	// The gateway checks the key before PostgREST sees the request.
	switch key := r.Header.Get("apikey"); {
	case key == "":
		writeJSON(w, 401, `{"message":"No API key found in request","hint":"No apikey request header or url param was found."}`)
		return
	case key != fakeKey:
		writeJSON(w, 401, "{\"message\":\"Invalid API key\",\"hint\":\"Double check your Supabase `anon` or `service_role` API key.\"}")
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+fakeKey {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token", error_description="JWSError JWSInvalidSignature"`)
		writeJSON(w, 401, pgErr("PGRST301", "JWSError JWSInvalidSignature", nil, nil))
		return
	}
	if r.Method != http.MethodPost || r.URL.Path != "/rest/v1/kick_notifications" {
		writeJSON(w, 404, `{}`) // v12: unknown table
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		writeJSON(w, 400, pgErr("PGRST102", "Content-Type not acceptable: "+ct, nil, nil))
		return
	}
	if arrayErr != nil || len(rows) == 0 {
		writeJSON(w, 400, pgErr("PGRST102", "Empty or invalid json", nil, nil))
		return
	}
	for _, row := range rows {
		if len(row) != len(rows[0]) {
			writeJSON(w, 400, pgErr("PGRST102", "All object keys must match", nil, nil))
			return
		}
		for k := range row {
			if !slices.Contains(columns, k) {
				writeJSON(w, 400, pgErr("PGRST204", fmt.Sprintf("Column '%s' of relation 'kick_notifications' does not exist", k), nil, nil))
				return
			}
		}
	}
	onConflict := r.URL.Query().Get("on_conflict") == "message_id" && !f.dropOnConflict
	ignore := onConflict && strings.Contains(r.Header.Get("Prefer"), "resolution=ignore-duplicates")
	// One statement: check every row, then insert all or nothing.
	batch := map[string]bool{}
	var insert []map[string]any
	for _, row := range rows {
		id, _ := row["message_id"].(string)
		if row["message_id"] == nil {
			writeJSON(w, 400, pgErr("23502", `null value in column "message_id" of relation "kick_notifications" violates not-null constraint`, "Failing row contains (…).", nil))
			return
		}
		if msg, _ := row["message"].(string); len([]rune(msg)) > f.maxMessage {
			writeJSON(w, 400, pgErr("23514", `new row for relation "kick_notifications" violates check constraint "message_max_500"`, "Failing row contains ("+id+", …).", nil))
			return
		}
		if _, dup := f.stored[id]; dup || batch[id] {
			if ignore {
				continue
			}
			writeJSON(w, 409, pgErr("23505", `duplicate key value violates unique constraint "kick_notifications_message_id_key"`, "Key (message_id)=("+id+") already exists.", nil))
			return
		}
		batch[id] = true
		insert = append(insert, row)
	}
	for _, row := range insert {
		f.stored[row["message_id"].(string)] = row
	}
	w.Header().Set("Content-Range", "*/*")
	w.WriteHeader(http.StatusCreated) // return=minimal: no body, no Content-Type
}
