package centrifugo

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"kickwatch/breaker"
	"kickwatch/pipeline"
	"kickwatch/pipeline/centrifugo/centrifake"
)

var _ Breaker = (*breaker.Breaker)(nil)

// advance lets fake time pass inside a synctest bubble and waits until
// every goroutine is idle again. Only for asserting that something does
// NOT happen within d; waits for something that should happen use the
// recorder and nextCmd.
func advance(d time.Duration) {
	time.Sleep(d) // fake time: returns as soon as the bubble is idle for d
	synctest.Wait()
}

func TestClient_HandshakeSubscribeAndEvents(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newFakeEnv(t, centrifake.Options{})
		tk := &tokens{}
		c := newTestClient(t, e, tk, nil)
		c.SetChannels(channels(11, 22))
		r := newRecorder()
		run(t, c, r)

		conn := nextConn(t, e)
		if got, want := conn.Origin, "https://kick.com"; got != want {
			t.Errorf("Origin=%q, want %q", got, want)
		}
		if !strings.HasPrefix(conn.UserAgent, "Mozilla/5.0") {
			t.Errorf("User-Agent=%q, want a browser's", conn.UserAgent)
		}
		connect := nextCmd(t, conn, "connect")
		if got, want := string(connect.Raw), `{"connect":{"token":"tok-`+tk.calls()[0]+`","name":"js"},"id":1}`; got != want {
			t.Errorf("connect=%s, want %s", got, want)
		}
		s1, s2 := nextCmd(t, conn, "subscribe"), nextCmd(t, conn, "subscribe")
		if s1.Message != s2.Message {
			t.Errorf("subscribes came in messages %d and %d, want one batched message", s1.Message, s2.Message)
		}
		for _, s := range []centrifake.Command{s1, s2} {
			if s.Flag != 0 {
				t.Errorf("subscribe %s flag=%d, want 0", s.Channel, s.Flag)
			}
		}
		if got, want := s1.Channel+" "+s2.Channel, "chatrooms.11.v2 chatrooms.22.v2"; got != want {
			t.Errorf("subscribed %q, want %q", got, want)
		}
		r.waitUp(t)
		subscribed(t, r, 11, 22)

		// One batched message: string data, object data, an unprefixed name,
		// keys in another order, and tags beside data.
		d11, d22 := fmt.Sprintf(chatJSON, 11), fmt.Sprintf(chatJSON, 22)
		err := conn.Send(
			centrifake.PubFrame("chatrooms.11.v2", `App\Events\ChatMessageEvent`, []byte(d11), false),
			centrifake.PubFrame("chatrooms.22.v2", `App\Events\ChatMessageEvent`, []byte(d22), true),
			[]byte(`{"push":{"pub":{"tags":{"k":"v"},"data":{"data":"{\"id\":\"x\"}","event":"MessageDeletedEvent"}},"channel":"chatrooms.22.v2"}}`),
		)
		if err != nil {
			t.Fatalf("send: %v", err)
		}
		want := []pipeline.Event{
			{Source: "centrifugo", ChatroomID: 11, Name: `App\Events\ChatMessageEvent`, Data: []byte(d11)},
			{Source: "centrifugo", ChatroomID: 22, Name: `App\Events\ChatMessageEvent`, Data: []byte(d22)},
			{Source: "centrifugo", ChatroomID: 22, Name: "MessageDeletedEvent", Data: []byte(`{"id":"x"}`)},
		}
		for i, w := range want {
			got := r.nextEvent(t)
			if got.Source != w.Source || got.ChatroomID != w.ChatroomID || got.Name != w.Name || string(got.Data) != string(w.Data) {
				t.Errorf("event %d = %+v (data %s), want %+v (data %s)", i, got, got.Data, w, w.Data)
			}
			if got.Received.IsZero() {
				t.Errorf("event %d: Received not set", i)
			}
		}
	})
}

func TestClient_AnswersPingsAndKeepsConnection(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newFakeEnv(t, centrifake.Options{PingInterval: 25 * time.Second, PongTimeout: 8 * time.Second})
		c := newTestClient(t, e, &tokens{}, nil)
		c.SetChannels(channels(1))
		r := newRecorder()
		run(t, c, r)
		conn := nextConn(t, e)
		start := time.Now()
		for i := 1; i <= 3; i++ {
			pong := nextCmd(t, conn, "pong")
			if got, want := string(pong.Raw), "{}"; got != want {
				t.Fatalf("pong=%q, want %q", got, want)
			}
			if got, want := since(start), time.Duration(i)*25*time.Second; got != want {
				t.Errorf("pong %d after %v, want %v (at once)", i, got, want)
			}
		}
		if !alive(conn) {
			t.Fatal("the server closed a connection that answered its pings")
		}
	})
}

func TestClient_NoPongWhenServerDoesNotAskForIt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// PongTimeout < 0: the connect reply says "pong": false.
		e := newFakeEnv(t, centrifake.Options{PingInterval: 25 * time.Second, PongTimeout: -1})
		c := newTestClient(t, e, &tokens{}, nil)
		c.SetChannels(channels(1))
		r := newRecorder()
		run(t, c, r)
		conn := nextConn(t, e)
		subscribed(t, r, 1)
		advance(80 * time.Second) // three pings
		for _, cmd := range conn.Commands() {
			if cmd.Method == "pong" {
				t.Errorf("client sent %s although the server does not want pongs", cmd.Raw)
			}
		}
		if !alive(conn) {
			t.Error("connection ended although the server kept pinging")
		}
	})
}

func TestClient_SilentServerReconnects(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// No pings announced: the client assumes 25 s and allows 10 s more.
		e := newFakeEnv(t, centrifake.Options{PingInterval: -1, TTL: -1})
		c := newTestClient(t, e, &tokens{}, nil)
		c.SetChannels(channels(1))
		r := newRecorder()
		run(t, c, r)
		first := nextConn(t, e)
		subscribed(t, r, 1)
		start := time.Now()
		if err := r.waitDown(t); !errors.Is(err, ErrSilent) {
			t.Fatalf("down because %v, want ErrSilent", err)
		}
		if got, want := since(start), 35*time.Second; got != want {
			t.Errorf("gave up after %v of silence, want %v", got, want)
		}
		waitEnded(t, first)
		second := nextConn(t, e)
		nextCmd(t, second, "subscribe")
	})
}

func TestClient_RefreshesTokenWithSameClientID(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newFakeEnv(t, centrifake.Options{TTL: 60 * time.Second})
		tk := &tokens{}
		c := newTestClient(t, e, tk, nil)
		r := newRecorder()
		run(t, c, r)
		conn := nextConn(t, e)
		nextCmd(t, conn, "connect")
		start := time.Now()
		for i := 1; i <= 3; i++ {
			ref := nextCmd(t, conn, "refresh")
			if got, want := since(start), time.Duration(i)*45*time.Second; got != want {
				t.Errorf("refresh %d after %v, want %v (ttl 60 s − 15 s)", i, got, want)
			}
			if got, want := ref.Token, "tok-"+tk.calls()[0]; got != want {
				t.Errorf("refresh token %q, want %q (same client id)", got, want)
			}
		}
		if !alive(conn) {
			t.Fatal("connection ended although every refresh was accepted")
		}
	})
}

func TestClient_FailedRefreshKeepsConnection(t *testing.T) {
	failCalls := func(calls ...int) func(int) error {
		return func(n int) error {
			for _, c := range calls {
				if n == c {
					return errors.New("token endpoint down")
				}
			}
			return nil
		}
	}
	refuseRefresh := func(tok string, refresh bool) error {
		if refresh {
			return &centrifake.ReplyError{Code: 109, Message: "token expired"}
		}
		return nil
	}
	// ttl 60 s: the refresh is due at 45 s; a failed one is retried 10 s
	// later while more than 10 s of the token are left (once, at 55 s). The
	// server closes with 3005 at ttl + expired_close_delay = 85 s unless a
	// refresh got through.
	tests := []struct {
		name      string
		fail      func(int) error // token calls: 1 connect, 2 at 45 s, 3 at 55 s
		authorize func(string, bool) error
		expires   bool // the server ends the connection at 85 s
	}{
		{"token fetch fails once", failCalls(2), nil, false},
		{"token fetch keeps failing", failCalls(2, 3), nil, true},
		{"server refuses the refresh", nil, refuseRefresh, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := newFakeEnv(t, centrifake.Options{TTL: 60 * time.Second, ExpiredCloseDelay: 25 * time.Second, Authorize: tt.authorize})
				tk := &tokens{fail: tt.fail}
				c := newTestClient(t, e, tk, nil)
				c.SetChannels(channels(1))
				r := newRecorder()
				run(t, c, r)
				conn := nextConn(t, e)
				start := time.Now()
				subscribed(t, r, 1)
				if !tt.expires {
					ref := nextCmd(t, conn, "refresh")
					if got, want := since(start), 55*time.Second; got != want {
						t.Errorf("refresh sent after %v, want %v (retried 10 s after the failed fetch)", got, want)
					}
					if got, want := ref.Token, "tok-"+tk.calls()[0]; got != want {
						t.Errorf("refresh token %q, want %q", got, want)
					}
					advance(2 * time.Minute)
					if !alive(conn) {
						t.Fatal("connection ended although the retried refresh was accepted")
					}
					if got := r.conns.snapshot(); len(got) != 1 {
						t.Errorf("Connected reports %v, want only the first up", got)
					}
					return
				}
				err := r.waitDown(t)
				var de *DisconnectError
				if !errors.As(err, &de) || de.Code != 3005 || de.Terminal() {
					t.Fatalf("down because %v, want a non-terminal 3005 close", err)
				}
				if got, want := since(start), 85*time.Second; got != want {
					t.Errorf("connection lasted %v, want %v (kept until the server expired it)", got, want)
				}
				next := nextConn(t, e)
				nextCmd(t, next, "connect")
				ids := tk.calls()
				for i, id := range ids {
					if id != ids[0] {
						t.Errorf("token call %d for client %s, want %s (the same client id throughout)", i+1, id, ids[0])
					}
				}
			})
		})
	}
}

func TestClient_ConnectReplyErrors(t *testing.T) {
	tests := []struct {
		name    string
		refuse  error
		wantErr func(error) bool
	}{
		{"109 token expired", &centrifake.ReplyError{Code: 109, Message: "token expired"},
			func(err error) bool { return errors.Is(err, ErrTokenExpired) }},
		{"101 unauthorized", &centrifake.ReplyError{Code: 101, Message: "unauthorized"},
			func(err error) bool { var re *ReplyError; return errors.As(err, &re) && re.Code == 101 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				n := 0 // only the fake's serve goroutine touches it
				e := newFakeEnv(t, centrifake.Options{Authorize: func(string, bool) error {
					n++
					if n == 1 {
						return tt.refuse
					}
					return nil
				}})
				tk := &tokens{}
				c := newTestClient(t, e, tk, nil)
				c.SetChannels(channels(5))
				r := newRecorder()
				run(t, c, r)
				first := nextConn(t, e)
				if err := r.waitDown(t); !tt.wantErr(err) {
					t.Fatalf("down because %v", err)
				}
				waitEnded(t, first)
				start := time.Now()
				nextCmd(t, nextConn(t, e), "connect")
				if waited := since(start); waited > 1250*time.Millisecond {
					t.Errorf("reconnected after %v, want ordinary backoff (~1 s)", waited)
				}
				subscribed(t, r, 5)
				ids := tk.calls()
				if len(ids) != 2 || ids[0] != ids[1] {
					t.Errorf("token calls %v, want two (a new token for the new connection) for one client id", ids)
				}
			})
		})
	}
}
