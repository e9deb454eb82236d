package centrifugo

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"kickwatch/pipeline"
	"kickwatch/pipeline/centrifugo/centrifake"
)

func TestClient_OneRefusedChannelDoesNotEndOthers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		refusals := 0 // only the fake's serve goroutine touches it
		e := newFakeEnv(t, centrifake.Options{Subscribe: func(ch string) error {
			if ch == "chatrooms.2.v2" && refusals < 2 {
				refusals++
				return &centrifake.ReplyError{Code: 103, Message: "permission denied"}
			}
			return nil
		}})
		c := newTestClient(t, e, &tokens{}, nil)
		c.SetChannels(channels(1, 2, 3))
		r := newRecorder()
		run(t, c, r)
		conn := nextConn(t, e)
		failed := r.waitState(t, 2, pipeline.ChannelFailed)
		var re *ReplyError
		if !errors.As(failed.err, &re) || re.Code != 103 {
			t.Errorf("channel 2 failed with %v, want error 103", failed.err)
		}
		subscribed(t, r, 1, 3)
		start := time.Now()
		if err := conn.Publish("chatrooms.3.v2", `App\Events\ChatMessageEvent`, fmt.Appendf(nil, chatJSON, 3)); err != nil {
			t.Fatal(err)
		}
		if ev := r.nextEvent(t); ev.ChatroomID != 3 {
			t.Errorf("event for chatroom %d, want 3", ev.ChatroomID)
		}
		r.waitState(t, 2, pipeline.ChannelFailed)
		if got := since(start); got < 30*time.Second || got > 38*time.Second {
			t.Errorf("first retry after %v, want 30 s + ≤25 %%", got)
		}
		start = time.Now()
		r.waitState(t, 2, pipeline.ChannelSubscribed)
		if got := since(start); got < 60*time.Second || got > 75*time.Second {
			t.Errorf("second retry after %v, want 60 s + ≤25 %%", got)
		}
		if got, want := strings.Join(conn.Subscriptions(), " "), "chatrooms.1.v2 chatrooms.2.v2 chatrooms.3.v2"; got != want {
			t.Errorf("subscriptions %q, want %q", got, want)
		}
		if got := r.conns.snapshot(); len(got) != 1 {
			t.Errorf("Connected reports %v, want one up and no drop", got)
		}
	})
}

func TestClient_AlreadySubscribedCountsAsSubscribed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newFakeEnv(t, centrifake.Options{Subscribe: func(ch string) error {
			return &centrifake.ReplyError{Code: 105, Message: "already subscribed"}
		}})
		c := newTestClient(t, e, &tokens{}, nil)
		c.SetChannels(channels(4))
		r := newRecorder()
		run(t, c, r)
		conn := nextConn(t, e)
		subscribed(t, r, 4)
		c.SetChannels(channels(4)) // the same set again: nothing to send
		c.SetChannels(channels(4, 8))
		subscribed(t, r, 8)
		var subs []string
		for _, cmd := range conn.Commands() {
			if cmd.Method == "subscribe" {
				subs = append(subs, cmd.Channel)
			}
		}
		if got, want := strings.Join(subs, " "), "chatrooms.4.v2 chatrooms.8.v2"; got != want {
			t.Errorf("subscribes %q, want %q (105 counts as subscribed: never again)", got, want)
		}
	})
}

func TestClient_UnsubscribePush(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newFakeEnv(t, centrifake.Options{})
		c := newTestClient(t, e, &tokens{}, nil)
		c.SetChannels(channels(1, 2))
		r := newRecorder()
		run(t, c, r)
		conn := nextConn(t, e)
		subscribed(t, r, 1, 2)
		nextCmd(t, conn, "subscribe")
		nextCmd(t, conn, "subscribe")

		start := time.Now()
		if err := conn.Unsubscribe("chatrooms.1.v2", 2500, "resubscribe"); err != nil {
			t.Fatal(err)
		}
		if got := nextCmd(t, conn, "subscribe"); got.Channel != "chatrooms.1.v2" || since(start) != 0 {
			t.Errorf("after code 2500: subscribe %s after %v, want chatrooms.1.v2 at once", got.Channel, since(start))
		}
		r.waitState(t, 1, pipeline.ChannelSubscribed)

		if err := conn.Unsubscribe("chatrooms.2.v2", 2000, "server unsubscribe"); err != nil {
			t.Fatal(err)
		}
		r.waitState(t, 2, pipeline.ChannelFailed)
		if got := nextCmd(t, conn, "subscribe"); got.Channel != "chatrooms.2.v2" || since(start) < 30*time.Second {
			t.Errorf("after code 2000: subscribe %s after %v, want chatrooms.2.v2 after the channel retry", got.Channel, since(start))
		}
		r.waitState(t, 2, pipeline.ChannelSubscribed)
		if !alive(conn) {
			t.Error("an unsubscribe push ended the connection")
		}
	})
}

func TestClient_SetChannelsLive(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newFakeEnv(t, centrifake.Options{})
		c := newTestClient(t, e, &tokens{}, nil)
		c.SetChannels(channels(1))
		r := newRecorder()
		run(t, c, r)
		conn := nextConn(t, e)
		subscribed(t, r, 1)
		c.SetChannels(channels(2))
		r.waitState(t, 2, pipeline.ChannelSubscribed)
		if got := nextCmd(t, conn, "unsubscribe"); got.Channel != "chatrooms.1.v2" {
			t.Errorf("unsubscribed %s, want chatrooms.1.v2", got.Channel)
		}
		// A late publication for the removed channel is dropped quietly.
		if err := conn.Send(centrifake.PubFrame("chatrooms.1.v2", "ChatMessageEvent", []byte(`{"a":1}`), false),
			centrifake.PubFrame("chatrooms.2.v2", "ChatMessageEvent", []byte(`{"b":2}`), false)); err != nil {
			t.Fatal(err)
		}
		if ev := r.nextEvent(t); ev.ChatroomID != 2 {
			t.Errorf("event for %d, want only chatroom 2", ev.ChatroomID)
		}
		if got := r.malformed.snapshot(); len(got) != 0 {
			t.Errorf("malformed reports %v, want none", got)
		}
		// Removed and added back at once: unsubscribe then subscribe, in order.
		c.SetChannels(nil)
		c.SetChannels(channels(2))
		synctest.Wait()
		if got, want := strings.Join(conn.Subscriptions(), " "), "chatrooms.2.v2"; got != want {
			t.Errorf("server holds %q, want %q", got, want)
		}
	})
}

func TestClient_ResubscribesEveryChannelAfterReconnect(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newFakeEnv(t, centrifake.Options{})
		c := newTestClient(t, e, &tokens{}, nil)
		c.SetChannels(channels(1, 2, 3))
		r := newRecorder()
		run(t, c, r)
		conn := nextConn(t, e)
		subscribed(t, r, 1, 2, 3)
		conn.Disconnect(3001, "shutdown")
		for _, id := range []int64{1, 2, 3} {
			r.waitState(t, id, pipeline.ChannelPending)
		}
		next := nextConn(t, e)
		subscribed(t, r, 1, 2, 3)
		if got, want := strings.Join(next.Subscriptions(), " "), "chatrooms.1.v2 chatrooms.2.v2 chatrooms.3.v2"; got != want {
			t.Errorf("after reconnect the server holds %q, want %q", got, want)
		}
	})
}
