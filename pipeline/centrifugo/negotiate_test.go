package centrifugo

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// apiRequest is one call the fake realtime API received.
type apiRequest struct {
	Path   string
	Header http.Header
	Body   map[string]any
}

// apiResponse is what the fake realtime API answers.
type apiResponse struct {
	status int
	header map[string]string
	body   string
}

// fakeAPI is Kick's realtime API on an httptest TLS server, answering
// each path with a canned response.
type fakeAPI struct {
	srv  *httptest.Server
	mu   sync.Mutex
	reqs []apiRequest
	resp map[string]apiResponse // by path suffix: "/connection", "/auth/connection"
}

func newFakeAPI(t *testing.T, resp map[string]apiResponse) *fakeAPI {
	t.Helper()
	f := &fakeAPI{resp: resp}
	f.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		var body map[string]any
		_ = json.Unmarshal(b, &body)
		f.mu.Lock()
		f.reqs = append(f.reqs, apiRequest{Path: r.URL.Path, Header: r.Header.Clone(), Body: body})
		f.mu.Unlock()
		key := "/connection"
		if strings.HasSuffix(r.URL.Path, "/auth/connection") {
			key = "/auth/connection"
		}
		res, ok := f.resp[key]
		if !ok {
			http.NotFound(w, r)
			return
		}
		for k, v := range res.header {
			w.Header().Set(k, v)
		}
		if w.Header().Get("Content-Type") == "" {
			w.Header().Set("Content-Type", "application/json")
		}
		w.WriteHeader(res.status)
		_, _ = io.WriteString(w, res.body)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeAPI) base() string { return f.srv.URL + "/api/v1/realtime" }

func (f *fakeAPI) requests() []apiRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.reqs)
}

func (f *fakeAPI) api(t *testing.T) *API {
	t.Helper()
	a, err := NewAPI(APIConfig{BaseURL: f.base(), HTTPClient: f.srv.Client()})
	if err != nil {
		t.Fatalf("NewAPI: %v", err)
	}
	return a
}

func ok(body string) apiResponse { return apiResponse{status: 200, body: body} }

const (
	offerCentrifugo = `{"data":{"connections":[{"provider":"centrifugo","credentials":{"url":"wss://realtime.us-east-1.platform.kick.com/connection/websocket"}}],"mode":"websocket"}}`
	offerPusher     = `{"data":{"connections":[{"provider":"pusher","credentials":{"app_key":"32cbd69e4b950bf97679","cluster":"us2"}}],"mode":"websocket"}}`
	htmlChallenge   = `<!DOCTYPE html><html><head><title>Just a moment...</title></head><body>challenge</body></html>`
	htmlBlocked     = `<!DOCTYPE html><html><body>Kick is not available in your country</body></html>`
)

func offer(conns ...string) string {
	return `{"data":{"connections":[` + strings.Join(conns, ",") + `],"mode":"websocket"}}`
}

func centrifugoConn(url string) string {
	b, _ := json.Marshal(url)
	return `{"credentials":{"url":` + string(b) + `},"provider":"centrifugo"}`
}

var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestAPI_Connection(t *testing.T) {
	const west = "wss://realtime.us-west-2.platform.kick.com/connection/websocket"
	tests := []struct {
		name      string
		resp      apiResponse
		providers []string
		wantProv  string
		wantURL   string
		wantErr   []error
	}{
		{"centrifugo us-east-1", ok(offerCentrifugo), nil, ProviderCentrifugo, "wss://realtime.us-east-1.platform.kick.com/connection/websocket", nil},
		{"centrifugo without region", ok(offer(centrifugoConn("wss://realtime.platform.kick.com/connection/websocket"))), nil, ProviderCentrifugo, "wss://realtime.platform.kick.com/connection/websocket", nil},
		{"pusher only", ok(offerPusher), nil, ProviderPusher, "", nil},
		{"pusher first", ok(offer(`{"provider":"pusher","credentials":{"app_key":"k","cluster":"us2"}}`, centrifugoConn(west))), nil, ProviderPusher, "", nil},
		{"pusher first, centrifugo asked", ok(offer(`{"provider":"pusher","credentials":{"app_key":"k","cluster":"us2"}}`, centrifugoConn(west))), []string{ProviderCentrifugo}, ProviderCentrifugo, west, nil},
		{"unknown provider first", ok(offer(`{"provider":"ably","credentials":{}}`, centrifugoConn(west))), nil, ProviderCentrifugo, west, nil},
		{"bad url skipped", ok(offer(centrifugoConn("wss://evil.example/connection/websocket"), centrifugoConn(west))), nil, ProviderCentrifugo, west, nil},
		{"only a bad url", ok(offer(centrifugoConn("ws://realtime.us-west-2.platform.kick.com/connection/websocket"))), nil, "", "", []error{ErrNoProvider, ErrBadURL}},
		{"pusher only, centrifugo asked", ok(offerPusher), []string{ProviderCentrifugo}, "", "", []error{ErrNoProvider}},
		{"no connections", ok(`{"data":{"connections":[],"mode":"websocket"}}`), nil, "", "", []error{ErrNoProvider}},
		{"not json", ok(`{"data":`), nil, "", "", nil},
		{"html with 200", apiResponse{status: 200, header: map[string]string{"Content-Type": "text/html"}, body: htmlChallenge}, nil, "", "", nil},
		{"403 challenge", apiResponse{status: 403, header: map[string]string{"Content-Type": "text/html; charset=UTF-8"}, body: htmlChallenge}, nil, "", "", []error{ErrChallenge}},
		{"423 country", apiResponse{status: 423, header: map[string]string{"Content-Type": "text/html"}, body: htmlBlocked}, nil, "", "", []error{ErrCountryBlocked}},
		{"429", apiResponse{status: 429, header: map[string]string{"Retry-After": "7"}, body: `{"message":"Too Many Attempts."}`}, nil, "", "", []error{ErrRateLimited}},
		{"500", apiResponse{status: 500, body: `{"message":"Server Error"}`}, nil, "", "", nil},
		{"oversized", ok(`{"data":{"connections":[],"pad":"` + strings.Repeat("x", DefaultMaxBodyBytes) + `"}}`), nil, "", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAPI(t, map[string]apiResponse{"/connection": tt.resp})
			sel, err := f.api(t).Connection(t.Context(), 4242, "11111111-2222-4333-8444-555555555555", tt.providers...)
			if tt.wantProv == "" {
				if err == nil {
					t.Fatalf("Connection = %+v, want an error", sel)
				}
				for _, w := range tt.wantErr {
					if !errors.Is(err, w) {
						t.Errorf("error %v, want it to wrap %v", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("Connection: %v", err)
			}
			if sel.Provider != tt.wantProv || sel.URL != tt.wantURL || sel.ClientID != "11111111-2222-4333-8444-555555555555" {
				t.Errorf("selection %+v, want provider %s url %q", sel, tt.wantProv, tt.wantURL)
			}
		})
	}
}

func TestAPI_ConnectionRequest(t *testing.T) {
	tests := []struct {
		channelID int64
		providers []string
		path      string
		accepted  string
	}{
		{4242, nil, "/api/v1/realtime/channels/4242/chat/connection", "pusher centrifugo"},
		{0, nil, "/api/v1/realtime/connection", "pusher centrifugo"},
		{7, []string{ProviderCentrifugo}, "/api/v1/realtime/channels/7/chat/connection", "centrifugo"},
	}
	for _, tt := range tests {
		f := newFakeAPI(t, map[string]apiResponse{"/connection": ok(offerCentrifugo)})
		if _, err := f.api(t).Connection(t.Context(), tt.channelID, "cid", tt.providers...); err != nil {
			t.Fatalf("Connection: %v", err)
		}
		req := f.requests()[0]
		if req.Path != tt.path {
			t.Errorf("path %s, want %s", req.Path, tt.path)
		}
		checkKickHeaders(t, req)
		client, _ := req.Body["client"].(map[string]any)
		if client["id"] != "cid" || client["type"] != "web" {
			t.Errorf("client %v, want id cid, type web", req.Body["client"])
		}
		caps, _ := req.Body["capabilities"].(map[string]any)
		list, _ := caps["accepted_providers"].([]any)
		var got []string
		for _, p := range list {
			m, _ := p.(map[string]any)
			s, _ := m["provider"].(string)
			got = append(got, s)
		}
		if strings.Join(got, " ") != tt.accepted {
			t.Errorf("accepted providers %v, want %s", got, tt.accepted)
		}
	}
}

func checkKickHeaders(t *testing.T, req apiRequest) {
	t.Helper()
	for k, want := range map[string]string{
		"Content-Type": "application/json", "x-app-platform": "web", "Origin": "https://kick.com", "Referer": "https://kick.com/",
	} {
		if got := req.Header.Get(k); got != want {
			t.Errorf("%s %s: header %s=%q, want %q", req.Path, "request", k, got, want)
		}
	}
	if ua := req.Header.Get("User-Agent"); !strings.HasPrefix(ua, "Mozilla/5.0") {
		t.Errorf("User-Agent %q, want a browser's", ua)
	}
}

func TestAPI_Token(t *testing.T) {
	tests := []struct {
		name    string
		resp    apiResponse
		want    string
		wantErr error
	}{
		{"data.token", ok(`{"data":{"token":"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJndWVzdDp4In0.c2ln"},"message":"success"}`), "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJndWVzdDp4In0.c2ln", nil},
		{"top-level token", ok(`{"token":"abc.def.ghi"}`), "abc.def.ghi", nil},
		{"no token", ok(`{"data":{},"message":"success"}`), "", nil},
		{"token with a newline", ok(`{"data":{"token":"abc\ndef"}}`), "", nil},
		{"403 html", apiResponse{status: 403, header: map[string]string{"Content-Type": "text/html"}, body: htmlChallenge}, "", ErrChallenge},
		{"429", apiResponse{status: 429, header: map[string]string{"Retry-After": "30"}}, "", ErrRateLimited},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAPI(t, map[string]apiResponse{"/auth/connection": tt.resp})
			tok, err := f.api(t).Token(t.Context(), "the-client")
			if tt.want != "" {
				if err != nil || tok != tt.want {
					t.Fatalf("Token = %q, %v, want %q", tok, err, tt.want)
				}
			} else if err == nil {
				t.Fatalf("Token = %q, want an error", tok)
			} else if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("error %v, want %v", err, tt.wantErr)
			}
			req := f.requests()[0]
			if req.Path != "/api/v1/realtime/auth/connection" || req.Body["client_id"] != "the-client" {
				t.Errorf("request %s %v, want POST …/auth/connection {client_id: the-client}", req.Path, req.Body)
			}
			checkKickHeaders(t, req)
		})
	}
}

func TestAPI_ErrorsHideSecretsAndURLs(t *testing.T) {
	f := newFakeAPI(t, map[string]apiResponse{"/auth/connection": ok(`{"data":{"token":"secret\u0001token"}}`)})
	a := f.api(t)
	_, err := a.Token(t.Context(), "c")
	if err == nil || strings.Contains(err.Error(), "secret") {
		t.Errorf("error %v, want one that does not quote the token", err)
	}
	f.srv.Close()
	_, err = a.Token(t.Context(), "c")
	if err == nil || strings.Contains(err.Error(), "https://") || strings.Contains(err.Error(), "/auth/connection") {
		t.Errorf("error %v, want one without the request URL", err)
	}
}

func TestHTTPError_RetryAfter(t *testing.T) {
	f := newFakeAPI(t, map[string]apiResponse{"/connection": {status: 429, header: map[string]string{"Retry-After": "7"}}})
	_, err := f.api(t).Connection(t.Context(), 0, "c")
	var he *HTTPError
	if !errors.As(err, &he) || he.RetryAfter != 7*time.Second || he.Refused() {
		t.Fatalf("error %#v, want an HTTPError with RetryAfter 7s, not refused", err)
	}
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"": 0, "0": 0, "-5": 0, "120": 2 * time.Minute, "999999999": time.Hour, "soon": 0,
		now.Add(90 * time.Second).Format(http.TimeFormat): 90 * time.Second,
		now.Add(-time.Minute).Format(http.TimeFormat):     0,
	} {
		if got := parseRetryAfter(in, now); got != want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestNewAPI_RejectsBadBaseURLs(t *testing.T) {
	for _, base := range []string{
		"http://web.kick.com/api/v1/realtime", "https://user:pw@web.kick.com/api/v1/realtime",
		"https://web.kick.com/api/v1/realtime?x=1", "ftp://web.kick.com/", "not a url", "/relative",
	} {
		if _, err := NewAPI(APIConfig{BaseURL: base}); err == nil {
			t.Errorf("NewAPI(%q) accepted it", base)
		}
	}
	if _, err := NewAPI(APIConfig{}); err != nil {
		t.Errorf("NewAPI with defaults: %v", err)
	}
}

func TestNewClientID_IsUUIDv4(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		id := NewClientID()
		if !uuidV4.MatchString(id) {
			t.Fatalf("NewClientID() = %q, want a UUID v4", id)
		}
		if seen[id] {
			t.Fatalf("NewClientID() repeated %s", id)
		}
		seen[id] = true
	}
}

// ctxDone is a canceled context for the Select test below.
func ctxDone() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}
