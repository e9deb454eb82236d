package kick

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"kickwatch/pipeline"
	"kickwatch/pipeline/kick/kickfake"
)

const room = 2346570

var chatData = []byte(`{"id":"0b6a1f3e-5c2d-4b8e-9a51-7d2c9e4f1a20","chatroom_id":2346570,"content":"hey @Target_User look https://kick.com/x \u00e9\ud83c\udf89","type":"message","created_at":"2025-08-20T07:07:44+00:00","sender":{"id":4815162,"username":"Viewer_One","slug":"viewer-one"},"metadata":{"message_ref":"1755673663786"}}`)

// sameJSON reports whether a and b decode to the same value.
func sameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	var va, vb any
	if err := json.Unmarshal(a, &va); err != nil {
		t.Fatalf("unmarshal %s: %v", a, err)
	}
	if err := json.Unmarshal(b, &vb); err != nil {
		t.Fatalf("unmarshal %s: %v", b, err)
	}
	ja, _ := json.Marshal(va)
	jb, _ := json.Marshal(vb)
	return bytes.Equal(ja, jb)
}

func TestTransport_HandshakeSubscribeAndEvents(t *testing.T) {
	tests := []struct {
		name           string
		early          bool // client subscribes before connection_established
		establishAfter bool // fake holds connection_established until a subscribe
	}{
		{"subscribe after established", false, false},
		{"subscribe on open", true, false},
		{"subscribe before established", true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := setup(t, kickfake.Options{EstablishAfterSubscribe: tt.establishAfter}, func(o *Options) { o.SubscribeEarly = tt.early })
			e.tr.SetChannels([]pipeline.Channel{{Slug: "a", ChatroomID: room}})
			e.run(t)
			e.h.waitConn(t, true)
			e.h.waitState(t, room, pipeline.ChannelSubscribed)

			if n := e.fake.Publish(room, EventChatMessage, chatData); n != 1 {
				t.Fatalf("published to %d sockets, want 1", n)
			}
			e.fake.PublishObject(room, `App\Events\UserBannedEvent`, []byte(`{"id":"x","user":{"id":1,"username":"u","slug":"u"}}`))

			ev := recv(t, e.h.events, "chat event")
			if ev.ChatroomID != room || ev.Name != EventChatMessage || ev.Source != Source {
				t.Fatalf("event = %+v, want chatroom %d name %s", ev, room, EventChatMessage)
			}
			if !sameJSON(t, ev.Data, chatData) {
				t.Fatalf("data = %s, want %s", ev.Data, chatData)
			}
			if ev.Received.IsZero() {
				t.Fatalf("Received is zero")
			}
			msg, err := ParseChatMessage(ev.Data)
			if err != nil {
				t.Fatalf("ParseChatMessage: %v", err)
			}
			if got, want := msg.Content, "hey @Target_User look https://kick.com/x é🎉"; got != want {
				t.Fatalf("content = %q, want %q", got, want)
			}
			ev = recv(t, e.h.events, "object-data event")
			if ev.Name != `App\Events\UserBannedEvent` || !sameJSON(t, ev.Data, []byte(`{"id":"x","user":{"id":1,"username":"u","slug":"u"}}`)) {
				t.Fatalf("object event = %s %s", ev.Name, ev.Data)
			}
		})
	}
}

func TestTransport_PrefilterSkipsDecode(t *testing.T) {
	e := setup(t, kickfake.Options{}, nil)
	e.h.prefilter = func(raw []byte) bool { return bytes.Contains(raw, []byte("skipme")) }
	e.tr.SetChannels([]pipeline.Channel{{ChatroomID: room}})
	e.run(t)
	e.h.waitState(t, room, pipeline.ChannelSubscribed)

	e.fake.Publish(room, EventChatMessage, []byte(`{"id":"1","content":"skipme"}`))
	e.fake.PublishRaw([]byte(`{"event": skipme not json`)) // consumed before decoding: not malformed
	e.fake.Publish(room, EventChatMessage, []byte(`{"id":"2","content":"keep"}`))
	ev := recv(t, e.h.events, "event")
	if !bytes.Contains(ev.Data, []byte(`"id":"2"`)) {
		t.Fatalf("first event = %s, want id 2 (id 1 prefiltered)", ev.Data)
	}
	if n := len(e.h.malformed); n != 0 {
		t.Fatalf("malformed = %d, want 0", n)
	}
}

func TestTransport_MalformedFramesKeepConnection(t *testing.T) {
	e := setup(t, kickfake.Options{}, func(o *Options) { o.MaxFrameBytes = 1024 })
	e.tr.SetChannels([]pipeline.Channel{{ChatroomID: room}})
	e.run(t)
	e.h.waitState(t, room, pipeline.ChannelSubscribed)

	big := `{"event":"App\\Events\\ChatMessageEvent","data":"{\"content\":\"` + strings.Repeat("a", 4000) + `\"}","channel":"chatrooms.2346570.v2"}`
	frames := []struct {
		raw  string
		want string
	}{
		{`{"event":`, ReasonJSON},
		{"{\"event\":\"x\xff\"}", ReasonUTF8},
		{`{"event":42,"data":"{}"}`, ReasonType},
		{`{"data":"{}","channel":"chatrooms.2346570.v2"}`, ReasonType},
		{`{"event":"App\\Events\\ChatMessageEvent","data":"{}","channel":"chatroom_2346570"}`, ReasonChannel},
		{`{"event":"App\\Events\\ChatMessageEvent","data":"{}","channel":"chatrooms.999.v2"}`, ReasonUnsubscribed},
		{`{"event":"App\\Events\\ChatMessageEvent","data":"[1,2]","channel":"chatrooms.2346570.v2"}`, ReasonType},
		{`{"event":"App\\Events\\ChatMessageEvent","data":5,"channel":"chatrooms.2346570.v2"}`, ReasonType},
		{big, ReasonOversized},
	}
	for _, f := range frames {
		e.fake.PublishRaw([]byte(f.raw))
	}
	for _, f := range frames {
		m := recv(t, e.h.malformed, "malformed "+f.want)
		if m.reason != f.want {
			t.Errorf("frame %.40q: reason %q, want %q", f.raw, m.reason, f.want)
		}
		if len(m.sample) > sampleBytes {
			t.Errorf("sample is %d bytes, want ≤ %d", len(m.sample), sampleBytes)
		}
	}
	e.fake.Publish(room, EventChatMessage, chatData)
	ev := recv(t, e.h.events, "event after malformed frames")
	if ev.ChatroomID != room {
		t.Fatalf("chatroom = %d, want %d", ev.ChatroomID, room)
	}
	if got := e.fake.Stats().Connections; got != 1 {
		t.Fatalf("connections = %d, want 1 (no reconnect for bad frames)", got)
	}
}

func TestTransport_KeepalivePingAndDeadServer(t *testing.T) {
	e := setup(t, kickfake.Options{}, func(o *Options) {
		o.PingInterval = 20 * time.Millisecond
		o.PongTimeout = 100 * time.Millisecond
	})
	e.tr.SetChannels([]pipeline.Channel{{ChatroomID: room}})
	e.run(t)
	e.h.waitState(t, room, pipeline.ChannelSubscribed)
	ctx := waitCtx(t)
	// The fake answers pings, so the socket stays up across several.
	if err := e.fake.Wait(ctx, func(s kickfake.Stats) bool { return s.Pings >= 3 }); err != nil {
		t.Fatal(err)
	}
	if got := e.fake.Stats().Connections; got != 1 {
		t.Fatalf("connections = %d, want 1 while pongs arrive", got)
	}
	e.fake.Stall(true)
	c := e.h.waitConn(t, false)
	if !errors.Is(c.err, errPongTimeout) {
		t.Fatalf("disconnect error = %v, want pong timeout", c.err)
	}
	e.h.waitState(t, room, pipeline.ChannelPending)
	e.fake.Stall(false)
	e.h.waitState(t, room, pipeline.ChannelSubscribed)
	if got := e.fake.Stats().Connections; got < 2 {
		t.Fatalf("connections = %d, want ≥ 2 after the stall", got)
	}
}

func TestTransport_AnswersServerPing(t *testing.T) {
	e := setup(t, kickfake.Options{}, nil)
	e.run(t)
	e.h.waitConn(t, true)
	e.fake.Ping()
	if err := e.fake.Wait(waitCtx(t), func(s kickfake.Stats) bool { return s.Pongs >= 1 }); err != nil {
		t.Fatal(err)
	}
}

func TestTransport_CloseCodes(t *testing.T) {
	tests := []struct {
		name     string
		inject   func(f *kickfake.Server)
		retired  bool // the key is gone before the first dial
		wantErr  error
		minWait  time.Duration
		maxWait  time.Duration
		wantLogs string
	}{
		{name: "4001 app gone", retired: true, wantErr: ErrAppKeyGone, minWait: DefaultRefusedBackoffMin * 8 / 10, maxWait: time.Hour, wantLogs: `set kick.transport = \"centrifugo\" or \"auto\"`},
		{name: "4003 disabled", inject: func(f *kickfake.Server) { f.CloseAll(4003, "Application disabled") }, wantErr: ErrRefused, minWait: DefaultRefusedBackoffMin * 8 / 10, maxWait: time.Hour},
		{name: "4009 unauthorized", inject: func(f *kickfake.Server) { f.CloseAll(4009, "Connection is unauthorized") }, wantErr: ErrRefused, minWait: DefaultRefusedBackoffMin * 8 / 10, maxWait: time.Hour},
		{name: "4100 over capacity", inject: func(f *kickfake.Server) { f.CloseAll(4100, "Over capacity") }, minWait: time.Second, maxWait: 2 * time.Second},
		{name: "4200 reconnect now", inject: func(f *kickfake.Server) { f.ErrorAndClose(4200, "Please reconnect immediately") }, minWait: 0, maxWait: 250 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := setup(t, kickfake.Options{}, nil)
			if tt.retired {
				e.fake.RetireKey()
			}
			e.tr.SetChannels([]pipeline.Channel{{ChatroomID: room}})
			e.run(t)
			if !tt.retired {
				e.h.waitState(t, room, pipeline.ChannelSubscribed)
				tt.inject(e.fake)
			}
			c := e.h.waitConn(t, false)
			if tt.wantErr != nil && !errors.Is(c.err, tt.wantErr) {
				t.Fatalf("Connected(false) error = %v, want %v", c.err, tt.wantErr)
			}
			wait := recv(t, e.wr.waits, "reconnect wait")
			if wait < tt.minWait || wait > tt.maxWait {
				t.Fatalf("reconnect wait = %v, want in [%v, %v]", wait, tt.minWait, tt.maxWait)
			}
			if !tt.retired {
				if err := e.fake.Wait(waitCtx(t), func(s kickfake.Stats) bool { return s.Connections >= 2 }); err != nil {
					t.Fatal(err)
				}
			}
			if tt.wantLogs != "" && !strings.Contains(e.logs.String(), tt.wantLogs) {
				t.Fatalf("logs lack %q:\n%s", tt.wantLogs, e.logs.String())
			}
		})
	}
}

func TestTransport_DropReconnectsAndResubscribes(t *testing.T) {
	e := setup(t, kickfake.Options{}, nil)
	e.tr.SetChannels([]pipeline.Channel{{ChatroomID: 1}, {ChatroomID: 2}})
	e.run(t)
	e.h.waitStates(t, pipeline.ChannelSubscribed, 1, 2)
	e.fake.Drop()
	e.h.waitConn(t, false)
	ctx := waitCtx(t)
	for _, id := range []int64{1, 2} {
		if err := e.fake.WaitSubscribed(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	e.fake.Publish(2, EventChatMessage, chatData)
	if ev := recv(t, e.h.events, "event after reconnect"); ev.ChatroomID != 2 {
		t.Fatalf("chatroom = %d, want 2", ev.ChatroomID)
	}
	if got := e.fake.Stats().Connections; got != 2 {
		t.Fatalf("connections = %d, want 2", got)
	}
}

func TestTransport_SetChannelsOnLiveSocket(t *testing.T) {
	e := setup(t, kickfake.Options{}, nil)
	e.tr.SetChannels([]pipeline.Channel{{ChatroomID: 1}})
	e.run(t)
	e.h.waitState(t, 1, pipeline.ChannelSubscribed)
	ctx := waitCtx(t)

	e.tr.SetChannels([]pipeline.Channel{{ChatroomID: 1}, {ChatroomID: 2}})
	e.h.waitState(t, 2, pipeline.ChannelSubscribed)
	e.tr.SetChannels([]pipeline.Channel{{ChatroomID: 2}})
	if err := e.fake.WaitUnsubscribed(ctx, 1); err != nil {
		t.Fatal(err)
	}
	// Events for the dropped channel no longer reach the handler.
	e.fake.PublishRaw(kickfake.EncodeFrame(ChannelName(1), EventChatMessage, chatData))
	if m := recv(t, e.h.malformed, "unsubscribed frame"); m.reason != ReasonUnsubscribed {
		t.Fatalf("reason = %q, want %q", m.reason, ReasonUnsubscribed)
	}
	st := e.fake.Stats()
	if st.Connections != 1 || st.Subscribes != 2 || st.Unsubscribes != 1 {
		t.Fatalf("stats = %+v, want 1 connection, 2 subscribes, 1 unsubscribe", st)
	}
}

// fakeBreaker is open for the first Allow, then closed.
type fakeBreaker struct {
	allows, successes, failures chan struct{}
	readyAt                     time.Time
	denied                      bool
}

func (b *fakeBreaker) Allow() error {
	if !b.denied {
		b.denied = true
		return errors.New("open")
	}
	b.allows <- struct{}{}
	return nil
}
func (b *fakeBreaker) Success()           { b.successes <- struct{}{} }
func (b *fakeBreaker) Failure()           { b.failures <- struct{}{} }
func (b *fakeBreaker) Release()           {}
func (b *fakeBreaker) ReadyAt() time.Time { return b.readyAt }

func TestTransport_BreakerGatesDials(t *testing.T) {
	now := time.Date(2025, 8, 20, 7, 0, 0, 0, time.UTC)
	b := &fakeBreaker{allows: make(chan struct{}, 10), successes: make(chan struct{}, 10), failures: make(chan struct{}, 10), readyAt: now.Add(10 * time.Minute)}
	e := setup(t, kickfake.Options{}, func(o *Options) {
		o.Breaker = b
		o.Now = func() time.Time { return now }
	})
	e.run(t)
	if got := recv(t, e.wr.waits, "breaker wait"); got != 10*time.Minute {
		t.Fatalf("breaker wait = %v, want 10m", got)
	}
	recv(t, b.allows, "allow")
	recv(t, b.successes, "success")
	e.h.waitConn(t, true)
}

func TestBackoff_NeverStops(t *testing.T) {
	bo := newBackoff(time.Second, time.Minute, 0.5)
	for i := range 200 {
		d := bo.NextBackOff()
		if d < 0 || d > 90*time.Second {
			t.Fatalf("attempt %d: wait %v, want within (0, 90s]", i, d)
		}
	}
}
