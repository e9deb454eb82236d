package centrifugo

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"

	"kickwatch/pipeline"
	"kickwatch/pipeline/centrifugo/centrifake"
)

func TestSelect(t *testing.T) {
	tests := []struct {
		name       string
		mode       string
		chans      []pipeline.Channel
		resp       apiResponse
		wantCentri bool
		wantReason []error // for Pusher
		wantPath   string  // the negotiation call, "" for none
	}{
		{"pusher mode", ModePusher, channels(1), ok(offerCentrifugo), false, []error{ErrPusherMode}, ""},
		{"centrifugo mode", ModeCentrifugo, channels(1), ok(offerPusher), true, nil, ""},
		{"auto centrifugo per channel", ModeAuto, channels(1), ok(offerCentrifugo), true, nil, "/api/v1/realtime/channels/10/chat/connection"},
		{"auto default mode", "", []pipeline.Channel{{Slug: "a", ChatroomID: 5}, {Slug: "b", ChatroomID: 6, ChannelID: 66}}, ok(offerCentrifugo), true, nil, "/api/v1/realtime/channels/66/chat/connection"},
		{"auto general endpoint", ModeAuto, []pipeline.Channel{{Slug: "a", ChatroomID: 5}}, ok(offerCentrifugo), true, nil, "/api/v1/realtime/connection"},
		{"auto no channels", ModeAuto, nil, ok(offerCentrifugo), true, nil, "/api/v1/realtime/connection"},
		{"auto pusher offered", ModeAuto, channels(1), ok(offerPusher), false, []error{ErrPusherOffered}, "/api/v1/realtime/channels/10/chat/connection"},
		{"auto bad url", ModeAuto, channels(1), ok(offer(centrifugoConn("wss://realtime.kick.com.evil.example/connection/websocket"))), false,
			[]error{ErrNegotiation, ErrNoProvider, ErrBadURL}, "/api/v1/realtime/channels/10/chat/connection"},
		{"auto 403 challenge", ModeAuto, channels(1), apiResponse{status: 403, header: map[string]string{"Content-Type": "text/html"}, body: htmlChallenge}, false,
			[]error{ErrNegotiation, ErrChallenge}, "/api/v1/realtime/channels/10/chat/connection"},
		{"auto 423 country", ModeAuto, channels(1), apiResponse{status: 423, header: map[string]string{"Content-Type": "text/html"}, body: htmlBlocked}, false,
			[]error{ErrNegotiation, ErrCountryBlocked}, "/api/v1/realtime/channels/10/chat/connection"},
		{"auto 429", ModeAuto, channels(1), apiResponse{status: 429, header: map[string]string{"Retry-After": "60"}}, false,
			[]error{ErrNegotiation, ErrRateLimited}, "/api/v1/realtime/channels/10/chat/connection"},
		{"auto garbage", ModeAuto, channels(1), ok(`<html>`), false, []error{ErrNegotiation}, "/api/v1/realtime/channels/10/chat/connection"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAPI(t, map[string]apiResponse{"/connection": tt.resp})
			ch, err := Select(t.Context(), Options{Mode: tt.mode, RealtimeURL: f.base(), Channels: tt.chans, APIClient: f.srv.Client()})
			if err != nil {
				t.Fatalf("Select: %v", err)
			}
			if got := ch.Transport != nil; got != tt.wantCentri {
				t.Fatalf("centrifugo=%v (reason %v), want %v", got, ch.Reason, tt.wantCentri)
			}
			if tt.wantCentri && ch.Reason != nil {
				t.Errorf("Reason %v with a transport, want nil", ch.Reason)
			}
			if !tt.wantCentri && ch.Reason == nil {
				t.Errorf("Pusher without a reason")
			}
			for _, w := range tt.wantReason {
				if !errors.Is(ch.Reason, w) {
					t.Errorf("reason %v, want it to wrap %v", ch.Reason, w)
				}
			}
			reqs := f.requests()
			if tt.wantPath == "" {
				if len(reqs) != 0 {
					t.Errorf("%d realtime calls, want none", len(reqs))
				}
				return
			}
			if len(reqs) != 1 || reqs[0].Path != tt.wantPath {
				t.Fatalf("realtime calls %+v, want one to %s", reqs, tt.wantPath)
			}
			client, _ := reqs[0].Body["client"].(map[string]any)
			id, _ := client["id"].(string)
			if !uuidV4.MatchString(id) {
				t.Errorf("negotiation client id %q, want a made-up UUID v4", id)
			}
			if tt.wantCentri {
				c := ch.Transport
				if c.firstURL != ch.Offer.URL || c.firstClientID != id || ch.Offer.URL == "" {
					t.Errorf("transport starts at %q as %q, want the offer %q as %q", c.firstURL, c.firstClientID, ch.Offer.URL, id)
				}
				if got := c.currentChannels(); len(got) != len(tt.chans) {
					t.Errorf("transport channels %v, want %v", got, tt.chans)
				}
			}
		})
	}
}

func TestSelect_BadOptions(t *testing.T) {
	if _, err := Select(t.Context(), Options{Mode: "smoke-signals"}); err == nil {
		t.Error("Select accepted an unknown mode")
	}
	if _, err := Select(t.Context(), Options{Mode: ModeAuto, RealtimeURL: "http://web.kick.com/api/v1/realtime"}); err == nil {
		t.Error("Select accepted a plain-http realtime URL")
	}
	if _, err := Select(t.Context(), Options{Mode: ModeCentrifugo, Config: Config{URL: "wss://evil.example/connection/websocket"}}); err == nil {
		t.Error("Select accepted a non-Kick WebSocket URL")
	}
	f := newFakeAPI(t, map[string]apiResponse{"/connection": ok(offerCentrifugo)})
	if _, err := Select(ctxDone(), Options{RealtimeURL: f.base(), APIClient: f.srv.Client()}); err == nil {
		t.Error("Select with a canceled context returned no error")
	}
}

// TestSelect_TransportRuns runs what Select returns. Auto: the transport
// connects to the negotiated URL with the negotiation's client id.
// Centrifugo: the transport negotiates (Centrifugo only) when it connects.
// Both negotiate again, Centrifugo only and as a new client, after a
// terminal close.
func TestSelect_TransportRuns(t *testing.T) {
	for _, mode := range []string{ModeAuto, ModeCentrifugo} {
		t.Run(mode, func(t *testing.T) { synctest.Test(t, func(t *testing.T) { testSelectTransportRuns(t, mode) }) })
	}
}

func testSelectTransportRuns(t *testing.T, mode string) {
	e := newFakeEnv(t, centrifake.Options{})
	var mu sync.Mutex
	var reqs []apiRequest
	rt := &centrifake.Realtime{WebSocketURL: fakeURL, Providers: []string{"centrifugo", "pusher"}}
	e.mux.HandleFunc("/api/v1/realtime/", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(io.LimitReader(r.Body, 1<<16))
		var body map[string]any
		_ = json.Unmarshal(b, &body)
		mu.Lock()
		reqs = append(reqs, apiRequest{Path: r.URL.Path, Header: r.Header.Clone(), Body: body})
		mu.Unlock()
		r.Body = io.NopCloser(strings.NewReader(string(b)))
		rt.ServeHTTP(w, r)
	})
	ch, err := Select(t.Context(), Options{
		Mode:        mode,
		RealtimeURL: "http://127.0.0.1:1/api/v1/realtime",
		Channels:    channels(3),
		APIClient:   e.client,
		Config:      Config{HTTPClient: e.client, URLPolicy: URLPolicy{AllowLoopback: true}},
	})
	if err != nil || ch.Transport == nil {
		t.Fatalf("Select = %+v, %v, want a centrifugo transport", ch, err)
	}
	r := newRecorder()
	run(t, ch.Transport, r)
	conn := nextConn(t, e)
	connect := nextCmd(t, conn, "connect")
	subscribed(t, r, 3)
	conn.Disconnect(3504, "connection limit")
	next := nextConn(t, e) // after the terminal wait
	nextCmd(t, next, "connect")

	mu.Lock()
	defer mu.Unlock()
	var paths []string
	for _, q := range reqs {
		paths = append(paths, strings.TrimPrefix(q.Path, "/api/v1/realtime"))
		checkKickHeaders(t, q)
	}
	if got, want := strings.Join(paths, " "), "/channels/30/chat/connection /auth/connection /channels/30/chat/connection /auth/connection"; got != want {
		t.Fatalf("realtime calls %q, want %q", got, want)
	}
	clientOf := func(q apiRequest) string {
		if id, ok := q.Body["client_id"].(string); ok {
			return id
		}
		c, _ := q.Body["client"].(map[string]any)
		id, _ := c["id"].(string)
		return id
	}
	first, second := clientOf(reqs[0]), clientOf(reqs[2])
	if clientOf(reqs[1]) != first || clientOf(reqs[3]) != second || first == second {
		t.Errorf("client ids %s %s %s %s, want one for the negotiation and its token, a new one after the terminal close",
			first, clientOf(reqs[1]), second, clientOf(reqs[3]))
	}
	if got, want := connect.Token, "guest-"+first; got != want {
		t.Errorf("connect token %q, want %q", got, want)
	}
	accepted := func(q apiRequest) int {
		caps, _ := q.Body["capabilities"].(map[string]any)
		list, _ := caps["accepted_providers"].([]any)
		return len(list)
	}
	want := 1
	if mode == ModeAuto {
		want = 2
	}
	if got := accepted(reqs[0]); got != want {
		t.Errorf("first negotiation accepted %d providers, want %d", got, want)
	}
	if got := accepted(reqs[2]); got != 1 {
		t.Errorf("renegotiation accepted %d providers, want centrifugo only", got)
	}
}
