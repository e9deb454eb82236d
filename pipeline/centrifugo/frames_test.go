package centrifugo

import (
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"kickwatch/pipeline"
	"kickwatch/pipeline/centrifugo/centrifake"
)

func TestClient_BadFramesSurvive(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newFakeEnv(t, centrifake.Options{})
		c := newTestClient(t, e, &tokens{}, func(c *Config) { c.ReadLimit = 1024 })
		c.SetChannels(channels(9))
		r := newRecorder()
		run(t, c, r)
		conn := nextConn(t, e)
		subscribed(t, r, 9)
		big := centrifake.PubFrame("chatrooms.9.v2", "ChatMessageEvent", []byte(`{"content":"`+strings.Repeat("x", 4000)+`"}`), false)
		bad := []struct {
			frame  []byte
			reason string
		}{
			{big, "oversized"},
			{[]byte(`{"push":{"channel":"chatrooms.9.v2","pub":{"data":`), "json"},
			{[]byte("{\"push\":{\"channel\":\"chatrooms.9.v2\",\"pub\":{\"data\":{\"event\":\"E\",\"data\":\"\xff\"}}}}"), "utf8"},
			{[]byte(`{"push":{"channel":"chatrooms.9.v2","pub":{"data":{"event":"E","data":[1]}}}}`), "type"},
			{[]byte(`{"push":{"channel":"chatrooms.9.v2","pub":{"data":{"event":"E","data":"not json"}}}}`), "type"},
			{[]byte(`{"push":{"channel":"chatrooms.9.v2","pub":{"data":{"event":"E","data":"{\"a\":"}}}}`), "json"},
			{[]byte(`{"push":{"channel":"chatrooms.9.v2","pub":{"data":{"event":7,"data":"{}"}}}}`), "type"},
			{[]byte(`{"push":{"channel":"chatrooms.9.v2","pub":{"data":"{\"event\":\"E\"}"}}}`), "type"},
			{[]byte(`{"push":{"channel":"elsewhere","pub":{"data":{"event":"E","data":"{}"}}}}`), "channel"},
			{[]byte(`{"id":"one"}`), "type"},
			{[]byte(`{"hello":1}`), "unknown_frame"},
			{[]byte(`[]`), "type"},
			{[]byte(`null`), "unknown_frame"},
		}
		for _, b := range bad {
			if err := conn.Send(b.frame); err != nil {
				t.Fatal(err)
			}
			if got := r.nextMalformed(t); got.reason != b.reason {
				t.Errorf("frame %.60q: reason %q, want %q", b.frame, got.reason, b.reason)
			}
		}
		if err := conn.SendBinary([]byte(`{}`)); err != nil {
			t.Fatal(err)
		}
		if got := r.nextMalformed(t); got.reason != "type" {
			t.Errorf("binary message: reason %q, want type", got.reason)
		}
		// A bad line does not spoil the good lines batched with it.
		if err := conn.Send([]byte(`{"push":`), centrifake.PubFrame("chatrooms.9.v2", "ChatMessageEvent", []byte(`{"ok":true}`), false)); err != nil {
			t.Fatal(err)
		}
		if got := r.nextMalformed(t); got.reason != "json" {
			t.Errorf("bad line in a batch: reason %q, want json", got.reason)
		}
		if ev := r.nextEvent(t); string(ev.Data) != `{"ok":true}` {
			t.Errorf("event after bad frames: %s", ev.Data)
		}
		if !alive(conn) {
			t.Error("a bad frame ended the connection")
		}
		if got := r.conns.snapshot(); len(got) != 1 {
			t.Errorf("Connected reports %v, want one up and no drop", got)
		}
		for _, m := range r.malformed.snapshot() {
			if len(m.sample) > 1024 {
				t.Errorf("Malformed sample of %d bytes, want it bounded by the read limit", len(m.sample))
			}
		}
	})
}

func TestClient_PrefilterFastPath(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newFakeEnv(t, centrifake.Options{})
		c := newTestClient(t, e, &tokens{}, nil)
		c.SetChannels(channels(1))
		r := newRecorder()
		r.prefilter = func(line []byte) bool { return strings.Contains(string(line), "boring") }
		run(t, c, r)
		conn := nextConn(t, e)
		subscribed(t, r, 1)
		if err := conn.Send(
			centrifake.PubFrame("chatrooms.1.v2", "ChatMessageEvent", []byte(`{"content":"boring"}`), false),
			[]byte(`{"push":{"channel":"chatrooms.1.v2","pub":{"data":{"event":"E","data":"{\"boring\":1,"}}}}`),
			centrifake.PubFrame("chatrooms.1.v2", "ChatMessageEvent", []byte(`{"content":"@bob"}`), false),
		); err != nil {
			t.Fatal(err)
		}
		if ev := r.nextEvent(t); string(ev.Data) != `{"content":"@bob"}` {
			t.Errorf("first event %s, want the matching one only", ev.Data)
		}
		if got := r.malformed.snapshot(); len(got) != 0 {
			t.Errorf("a prefiltered frame was decoded: %v", got)
		}
		offered := r.offered.snapshot()
		if len(offered) != 3 {
			t.Errorf("Prefilter offered %d lines, want the 3 publication lines one by one", len(offered))
		}
		for _, line := range offered {
			if !strings.Contains(line, `"pub"`) || strings.Contains(line, "\n") {
				t.Errorf("offered a control frame or a whole batch to Prefilter: %s", line)
			}
		}
	})
}

func TestClient_SlowHandlerKeepsKeepalive(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newFakeEnv(t, centrifake.Options{PingInterval: 25 * time.Second, PongTimeout: 8 * time.Second})
		c := newTestClient(t, e, &tokens{}, nil)
		c.SetChannels(channels(1))
		r := newRecorder()
		release := make(chan struct{})
		r.onEvent = func(pipeline.Event) { <-release }
		run(t, c, r)
		released := false
		t.Cleanup(func() { // before run's cleanup: Run cannot stop inside a stuck handler
			if !released {
				close(release)
			}
		})
		conn := nextConn(t, e)
		subscribed(t, r, 1)
		if err := conn.Publish("chatrooms.1.v2", "ChatMessageEvent", []byte(`{"n":1}`)); err != nil {
			t.Fatal(err)
		}
		if err := conn.Publish("chatrooms.1.v2", "ChatMessageEvent", []byte(`{"n":2}`)); err != nil {
			t.Fatal(err)
		}
		// The handler is stuck on the first event for three ping intervals;
		// every ping is still answered and nothing is lost.
		for range 3 {
			nextCmd(t, conn, "pong")
		}
		close(release)
		released = true
		for _, want := range []string{`{"n":1}`, `{"n":2}`} {
			if ev := r.nextEvent(t); string(ev.Data) != want {
				t.Errorf("event %s, want %s", ev.Data, want)
			}
		}
		if !alive(conn) {
			t.Error("connection dropped while the handler was slow")
		}
	})
}
