package kickfake

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

func start(t *testing.T, o Options) (*Server, *httptest.Server) {
	t.Helper()
	s := New(o)
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return s, srv
}

func dial(t *testing.T, url string) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return c
}

type frame struct {
	Event   string          `json:"event"`
	Channel string          `json:"channel"`
	Data    json.RawMessage `json:"data"`
}

func read(t *testing.T, c *websocket.Conn) frame {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	_, b, err := c.Read(ctx)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	var f frame
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("frame %s: %v", b, err)
	}
	return f
}

func write(t *testing.T, c *websocket.Conn, s string) {
	t.Helper()
	if err := c.Write(t.Context(), websocket.MessageText, []byte(s)); err != nil {
		t.Fatalf("write: %v", err)
	}
}

func TestServer_RefusesBadURLs(t *testing.T) {
	s, srv := start(t, Options{})
	base := strings.Replace(srv.URL, "http://", "ws://", 1)
	tests := []struct {
		url    string
		code   websocket.StatusCode
		reason string
	}{
		{base + "/app/wrongkey?protocol=7", 4001, "Could not find app by key wrongkey. Perhaps you're connecting to the wrong cluster."},
		{base + "/app/" + DefaultAppKey, 4008, "No protocol version supplied"},
		{base + "/app/" + DefaultAppKey + "?protocol=99", 4007, "Unsupported protocol version"},
	}
	for _, tt := range tests {
		c := dial(t, tt.url)
		_, _, err := c.Read(t.Context())
		var ce websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != tt.code || ce.Reason != tt.reason {
			t.Errorf("%s: close %v, want %d %q", tt.url, err, tt.code, tt.reason)
		}
	}
	s.RetireKey()
	c := dial(t, s.SocketURL(srv.URL))
	if _, _, err := c.Read(t.Context()); websocket.CloseStatus(err) != 4001 {
		t.Errorf("retired key: %v, want close 4001", err)
	}
}

func TestServer_HandshakeSubscribePingPong(t *testing.T) {
	s, srv := start(t, Options{ActivityTimeout: 30})
	c := dial(t, s.SocketURL(srv.URL))
	f := read(t, c)
	var data string
	if f.Event != "pusher:connection_established" || json.Unmarshal(f.Data, &data) != nil {
		t.Fatalf("first frame = %+v, want connection_established with string data", f)
	}
	var hs struct {
		SocketID        string `json:"socket_id"`
		ActivityTimeout int    `json:"activity_timeout"`
	}
	if err := json.Unmarshal([]byte(data), &hs); err != nil || hs.ActivityTimeout != 30 || strings.Count(hs.SocketID, ".") != 1 {
		t.Fatalf("handshake data = %s, want socket_id N.M and activity_timeout 30", data)
	}
	write(t, c, `{"event":"pusher:subscribe","data":{"auth":"","channel":"chatrooms.668.v2"}}`)
	f = read(t, c)
	if f.Event != "pusher_internal:subscription_succeeded" || f.Channel != "chatrooms.668.v2" || string(f.Data) != `"{}"` {
		t.Fatalf("subscribe reply = %+v %s", f, f.Data)
	}
	if !s.IsSubscribed(668) {
		t.Fatalf("IsSubscribed(668) = false after subscribe")
	}
	write(t, c, `{"event":"pusher:ping","data":{}}`)
	if f = read(t, c); f.Event != "pusher:pong" || string(f.Data) != `"{}"` {
		t.Fatalf("ping reply = %+v %s, want pusher:pong with data \"{}\"", f, f.Data)
	}
	s.Publish(668, `App\Events\ChatMessageEvent`, []byte(`{"content":"a/b é 🎉"}`))
	f = read(t, c)
	if err := json.Unmarshal(f.Data, &data); err != nil {
		t.Fatalf("event data not a string: %s", f.Data)
	}
	var inner struct{ Content string }
	if err := json.Unmarshal([]byte(data), &inner); err != nil || inner.Content != "a/b é 🎉" {
		t.Fatalf("inner = %s (%v)", data, err)
	}
	write(t, c, `{"event":"pusher:unsubscribe","data":{"channel":"chatrooms.668.v2"}}`)
	if err := s.WaitUnsubscribed(t.Context(), 668); err != nil {
		t.Fatal(err)
	}
	if n := s.Publish(668, "x", []byte("{}")); n != 0 {
		t.Fatalf("published to %d sockets after unsubscribe, want 0", n)
	}
}

func TestServer_EstablishAfterSubscribe(t *testing.T) {
	s, srv := start(t, Options{EstablishAfterSubscribe: true})
	c := dial(t, s.SocketURL(srv.URL))
	write(t, c, `{"event":"pusher:subscribe","data":{"channel":"chatrooms.1.v2"}}`)
	if f := read(t, c); f.Event != "pusher:connection_established" {
		t.Fatalf("first frame = %s, want connection_established", f.Event)
	}
	if f := read(t, c); f.Event != "pusher_internal:subscription_succeeded" {
		t.Fatalf("second frame = %s, want subscription_succeeded", f.Event)
	}
}

func TestServer_ErrorAndClose(t *testing.T) {
	s, srv := start(t, Options{})
	c := dial(t, s.SocketURL(srv.URL))
	read(t, c)
	s.ErrorAndClose(4200, "Please reconnect immediately")
	f := read(t, c)
	if f.Event != "pusher:error" || string(f.Data) != `{"code":4200,"message":"Please reconnect immediately"}` {
		t.Fatalf("error frame = %+v %s, want object data", f, f.Data)
	}
	if _, _, err := c.Read(t.Context()); websocket.CloseStatus(err) != 4200 {
		t.Fatalf("close = %v, want 4200", err)
	}
}

func TestEncodeFrame_PHPStyle(t *testing.T) {
	got := string(EncodeFrame("chatrooms.1.v2", `App\Events\ChatMessageEvent`, []byte(`{"url":"https://x","e":"🎉"}`)))
	want := `{"event":"App\\Events\\ChatMessageEvent","data":"{\"url\":\"https:\\\/\\\/x\",\"e\":\"\\ud83c\\udf89\"}","channel":"chatrooms.1.v2"}`
	if got != want {
		t.Fatalf("EncodeFrame =\n%s\nwant\n%s", got, want)
	}
}

func TestLoadScript(t *testing.T) {
	sc, err := LoadScript(strings.NewReader("{\"event\":\"a\"}\n\n {\"event\":\"b\",\"data\":{}} \n"))
	if err != nil || len(sc.Frames) != 2 {
		t.Fatalf("LoadScript = %v, %v; want 2 frames", sc, err)
	}
	for _, bad := range []string{"{\"event\":\"a\"}\nnot json\n", `{"data":{}}`, `{"event":"a"` + strings.Repeat(" ", MaxScriptLine) + "}"} {
		if _, err := LoadScript(strings.NewReader(bad)); err == nil {
			t.Errorf("LoadScript(%.30q): nil error, want one", bad)
		}
	}
	sc, err = LoadScriptFile("../../../testdata/demo/chat.jsonl")
	if err != nil || len(sc.Frames) < 40 {
		t.Fatalf("demo script: %d frames, %v; want ≥ 40", len(sc.Frames), err)
	}
}

func TestServer_PlayWaitsForSubscriberAndRefreshes(t *testing.T) {
	s, srv := start(t, Options{})
	sc, err := LoadScriptFile("../../../testdata/demo/chat.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	sc.Frames = sc.Frames[:3]
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	fire := func(time.Duration) <-chan time.Time {
		ch := make(chan time.Time, 1)
		ch <- now
		return ch
	}
	done := make(chan error, 1)
	go func() {
		done <- s.Play(t.Context(), sc, PlayOptions{Refresh: true, Now: func() time.Time { return now }, After: fire})
	}()
	c := dial(t, s.SocketURL(srv.URL))
	read(t, c)
	write(t, c, `{"event":"pusher:subscribe","data":{"channel":"chatrooms.1000.v2"}}`)
	read(t, c)
	for i := range 3 {
		f := read(t, c)
		var data string
		if err := json.Unmarshal(f.Data, &data); err != nil {
			t.Fatalf("frame %d data: %v", i, err)
		}
		var m struct {
			ID        string `json:"id"`
			CreatedAt string `json:"created_at"`
		}
		if err := json.Unmarshal([]byte(data), &m); err != nil {
			t.Fatal(err)
		}
		if m.CreatedAt != "2030-01-02T03:04:05+00:00" || len(m.ID) != 36 || strings.Contains(string(sc.Frames[i]), m.ID) {
			t.Fatalf("frame %d not refreshed: %s", i, data)
		}
	}
	if err := <-done; err != nil {
		t.Fatalf("Play: %v", err)
	}
}
