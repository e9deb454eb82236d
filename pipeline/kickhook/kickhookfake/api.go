package kickhookfake

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"
)

// APIOptions configure the fake Kick API.
type APIOptions struct {
	ClientID     string
	ClientSecret string
	// Channels maps slug → broadcaster user id for GET /channels.
	Channels map[string]int64
	// PublicKeyPEM is served by GET /public-key.
	PublicKeyPEM []byte
	// ExpiresInString sends expires_in as a string, as the docs' example shows.
	ExpiresInString bool
}

// Subscription is one subscription held by the fake.
type Subscription struct {
	ID                string `json:"id"`
	AppID             string `json:"app_id"`
	BroadcasterUserID int64  `json:"broadcaster_user_id"`
	Event             string `json:"event"`
	Version           int    `json:"version"`
	Method            string `json:"method"`
	CreatedAt         string `json:"created_at"`
	UpdatedAt         string `json:"updated_at"`
}

// API fakes id.kick.com (/oauth/token, client_credentials only) and
// api.kick.com (/public/v1/channels, /public/v1/events/subscriptions,
// /public/v1/public-key) with the shapes and statuses of reference §5.2.
type API struct {
	o  APIOptions
	ts *httptest.Server

	mu               sync.Mutex
	tokens           map[string]bool
	subs             []Subscription
	webhooksDisabled bool
	missingScope     bool
	tokenRequests    int
}

// NewAPI starts the fake; Close stops it.
func NewAPI(o APIOptions) *API {
	a := &API{o: o, tokens: map[string]bool{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /oauth/token", a.token)
	mux.HandleFunc("GET /public/v1/channels", a.auth(a.channels))
	mux.HandleFunc("GET /public/v1/events/subscriptions", a.auth(a.list))
	mux.HandleFunc("POST /public/v1/events/subscriptions", a.auth(a.subscribe))
	mux.HandleFunc("DELETE /public/v1/events/subscriptions", a.auth(a.unsubscribe))
	mux.HandleFunc("GET /public/v1/public-key", a.publicKey)
	a.ts = httptest.NewServer(mux)
	return a
}

// Close stops the server.
func (a *API) Close() { a.ts.Close() }

// TokenURL is the fake's OAuth token endpoint.
func (a *API) TokenURL() string { return a.ts.URL + "/oauth/token" }

// APIURL is the fake's public API base (…/public/v1).
func (a *API) APIURL() string { return a.ts.URL + "/public/v1" }

// SetWebhooksDisabled makes POST subscriptions answer each item with Kick's
// "webhooks are not enabled for app" error.
func (a *API) SetWebhooksDisabled(v bool) { a.mu.Lock(); a.webhooksDisabled = v; a.mu.Unlock() }

// SetMissingScope makes every subscription call answer 403.
func (a *API) SetMissingScope(v bool) { a.mu.Lock(); a.missingScope = v; a.mu.Unlock() }

// RevokeTokens makes every issued token invalid (the next call gets 401).
func (a *API) RevokeTokens() { a.mu.Lock(); clear(a.tokens); a.mu.Unlock() }

// TokenRequests is how many token requests were made.
func (a *API) TokenRequests() int { a.mu.Lock(); defer a.mu.Unlock(); return a.tokenRequests }

// Subscriptions returns the subscriptions held.
func (a *API) Subscriptions() []Subscription {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]Subscription(nil), a.subs...)
}

// AddSubscription adds a subscription as if made earlier; it returns its id.
func (a *API) AddSubscription(broadcasterUserID int64, event string) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.addLocked(broadcasterUserID, event, 1)
}

func (a *API) addLocked(id int64, event string, version int) string {
	now := time.Now().UTC().Format(time.RFC3339)
	s := Subscription{ID: NewULID(time.Now()), AppID: "01FAKEAPP", BroadcasterUserID: id, Event: event,
		Version: version, Method: "webhook", CreatedAt: now, UpdatedAt: now}
	a.subs = append(a.subs, s)
	return s.ID
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

type envelope struct {
	Data    any    `json:"data"`
	Message string `json:"message"`
}

func (a *API) token(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	a.tokenRequests++
	a.mu.Unlock()
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "application/x-www-form-urlencoded" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "Invalid request"})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	if err := r.ParseForm(); err != nil || r.PostForm.Get("grant_type") != "client_credentials" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "Invalid request"})
		return
	}
	if r.PostForm.Get("client_id") != a.o.ClientID || r.PostForm.Get("client_secret") != a.o.ClientSecret {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "Invalid request"})
		return
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	tok := "fake-app-token-" + hex.EncodeToString(b[:])
	a.mu.Lock()
	a.tokens[tok] = true
	a.mu.Unlock()
	var exp any = 3600
	if a.o.ExpiresInString {
		exp = "3600"
	}
	writeJSON(w, http.StatusOK, map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": exp, "scope": ""})
}

func (a *API) auth(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		hdr := r.Header.Get("Authorization")
		tok, ok := strings.CutPrefix(hdr, "Bearer ")
		a.mu.Lock()
		valid := ok && a.tokens[tok]
		scope := !a.missingScope || !strings.HasPrefix(r.URL.Path, "/public/v1/events/")
		a.mu.Unlock()
		switch {
		case !valid:
			writeJSON(w, http.StatusUnauthorized, envelope{Message: "Unauthorized"})
		case !scope:
			writeJSON(w, http.StatusForbidden, envelope{Message: "Forbidden"})
		default:
			h(w, r)
		}
	}
}

func (a *API) channels(w http.ResponseWriter, r *http.Request) {
	type channel struct {
		BroadcasterUserID int64  `json:"broadcaster_user_id"`
		Slug              string `json:"slug"`
		StreamTitle       string `json:"stream_title"`
	}
	out := []channel{}
	for _, s := range r.URL.Query()["slug"] {
		if id, ok := a.o.Channels[s]; ok {
			out = append(out, channel{BroadcasterUserID: id, Slug: s, StreamTitle: "fake"})
		}
	}
	writeJSON(w, http.StatusOK, envelope{Data: out, Message: "OK"})
}

func (a *API) list(w http.ResponseWriter, _ *http.Request) {
	a.mu.Lock()
	out := append([]Subscription{}, a.subs...)
	a.mu.Unlock()
	writeJSON(w, http.StatusOK, envelope{Data: out, Message: "OK"})
}

func (a *API) subscribe(w http.ResponseWriter, r *http.Request) {
	var req struct {
		BroadcasterUserID int64 `json:"broadcaster_user_id"`
		Events            []struct {
			Name    string `json:"name"`
			Version int    `json:"version"`
		} `json:"events"`
		Method string `json:"method"`
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
	if err != nil || json.Unmarshal(body, &req) != nil || len(req.Events) == 0 || req.Method != "webhook" {
		writeJSON(w, http.StatusBadRequest, envelope{Message: "Invalid request"})
		return
	}
	type item struct {
		Name           string  `json:"name"`
		Version        int     `json:"version"`
		SubscriptionID *string `json:"subscription_id"`
		Error          *string `json:"error"`
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]item, 0, len(req.Events))
	for _, e := range req.Events {
		it := item{Name: e.Name, Version: e.Version}
		if a.webhooksDisabled {
			msg := "webhooks are not enabled for app"
			it.Error = &msg
		} else {
			id := a.addLocked(req.BroadcasterUserID, e.Name, e.Version)
			it.SubscriptionID = &id
		}
		out = append(out, it)
	}
	writeJSON(w, http.StatusOK, envelope{Data: out, Message: "OK"})
}

func (a *API) unsubscribe(w http.ResponseWriter, r *http.Request) {
	ids := r.URL.Query()["id"]
	if len(ids) == 0 {
		writeJSON(w, http.StatusBadRequest, envelope{Message: "Invalid request"})
		return
	}
	drop := map[string]bool{}
	for _, id := range ids {
		drop[id] = true
	}
	a.mu.Lock()
	kept := a.subs[:0]
	for _, s := range a.subs {
		if !drop[s.ID] {
			kept = append(kept, s)
		}
	}
	a.subs = kept
	a.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) publicKey(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, envelope{Data: map[string]string{"public_key": string(a.o.PublicKeyPEM)}, Message: "OK"})
}
