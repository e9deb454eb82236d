package ingest

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"kickwatch/pipeline"
	"kickwatch/pipeline/kick"
	"kickwatch/pipeline/kick/kickfake"
	"kickwatch/pipeline/match"
)

// TestIngest_DuplicateStoredOnce: a message read twice (a reconnect replays
// it, two transports carry it) is stored once and counted as a duplicate.
func TestIngest_DuplicateStoredOnce(t *testing.T) {
	st := openStore(t)
	in := New(Options{Outbox: st, Matcher: newTestMatcher(t, match.Options{})})
	in.SetChannels(testChannels())
	f := newFeeder(in)
	f.feed(mentionFrame("dup-1"))
	f.feed(mentionFrame("dup-1")) // same batch
	f.feed(mentionFrame("dup-2"))
	stop := run(t, in)
	stop()
	in2 := New(Options{Outbox: st, Matcher: newTestMatcher(t, match.Options{})})
	newFeeder(in2).feed(mentionFrame("dup-2")) // a later batch
	stop = run(t, in2)
	stop()

	rows := storedMentions(t, st)
	if len(rows) != 2 {
		t.Errorf("rows=%d, want 2", len(rows))
	}
	if got := in.Snapshot().Duplicates; got != 1 {
		t.Errorf("duplicates=%d, want 1 (same batch)", got)
	}
	if got := in2.Snapshot().Duplicates; got != 1 {
		t.Errorf("duplicates=%d, want 1 (later batch)", got)
	}
	if got := channelSnap(t, in.Snapshot(), testRoom).Frames[ResultMatched]; got != 3 {
		t.Errorf("matched=%d, want 3", got)
	}
}

// TestIngest_PrefilterCountsPerChannel: the fast path counts each dropped
// frame against the channel named by the frame's own channel key, not by a
// channel name written in the chat text.
func TestIngest_PrefilterCountsPerChannel(t *testing.T) {
	var clock time.Time
	in := New(Options{Outbox: openStore(t), Matcher: newTestMatcher(t, match.Options{}),
		Now: func() time.Time { return clock }})
	in.SetChannels([]pipeline.Channel{{Slug: "alpha", ChatroomID: 100}, {Slug: "beta", ChatroomID: 200}})
	frames := []struct {
		raw      []byte
		filtered bool
	}{
		{chatFrame(100, "a1", "Viewer_One", "hello"), true},
		{chatFrame(100, "a2", "Viewer_One", "see chatrooms.200.v2 and \"channel\":\"chatrooms.200.v2\""), true},
		{chatFrame(100, "a3", "Viewer_One", "gg"), true},
		{chatFrame(200, "b1", "Viewer_One", "hi"), true},
		{chatFrame(200, "b2", "Viewer_One", "hi @Target_User"), false}, // a match: decoded
		{chatFrame(300, "c1", "Viewer_One", "elsewhere"), true},
		{kickfake.EncodeFrame("chatrooms.100.v2", `App\Events\UserBannedEvent`, []byte(`{"id":"x"}`)), false},
		{[]byte(`{"event":"pusher:pong","data":"{}"}`), false},
	}
	for i, fr := range frames {
		clock = time.Date(2026, 11, 25, 12, 0, i, 0, time.UTC)
		if got := in.Prefilter(fr.raw); got != fr.filtered {
			t.Errorf("frame %d: Prefilter=%v, want %v", i, got, fr.filtered)
		}
	}
	s := in.Snapshot()
	a, b := channelSnap(t, s, 100), channelSnap(t, s, 200)
	if a.Frames[ResultFiltered] != 3 || b.Frames[ResultFiltered] != 1 || s.Unknown[ResultFiltered] != 1 {
		t.Errorf("filtered alpha=%d beta=%d unknown=%d, want 3 1 1",
			a.Frames[ResultFiltered], b.Frames[ResultFiltered], s.Unknown[ResultFiltered])
	}
	if want := time.Date(2026, 11, 25, 12, 0, 3, 0, time.UTC); !b.LastFrame.Equal(want) {
		t.Errorf("beta last frame=%v, want %v", b.LastFrame, want)
	}
	if want := time.Date(2026, 11, 25, 12, 0, 5, 0, time.UTC); !s.LastFrame.Equal(want) {
		t.Errorf("last frame=%v, want %v", s.LastFrame, want)
	}
}

// TestIngest_PrefilterWithoutMatcherDecodesEverything: with no matcher the
// fast path drops nothing.
func TestIngest_PrefilterWithoutMatcherDecodesEverything(t *testing.T) {
	in := New(Options{Outbox: openStore(t)})
	if in.Prefilter(chatFrame(100, "a", "b", "hello")) {
		t.Error("Prefilter=true without a matcher")
	}
	in.SetMatcher(newTestMatcher(t, match.Options{}))
	if !in.Prefilter(chatFrame(100, "a", "b", "hello")) {
		t.Error("Prefilter=false for a non-matching chat frame after SetMatcher")
	}
}

func TestChatroomOf(t *testing.T) {
	for _, tt := range []struct {
		raw  string
		want int64
	}{
		{`{"event":"x","data":"{}","channel":"chatrooms.2346570.v2"}`, 2346570},
		{`{"channel":"chatrooms.7.v2","event":"x"}`, 7},
		{`{"push":{"channel":"chatrooms.42.v2","pub":{}}}`, 42},
		{`{"event":"x","data":"{\"content\":\"chatrooms.9.v2\"}","channel":"chatrooms.5.v2"}`, 5},
		{`{"event":"x","data":"{\"channel\":\"chatrooms.9.v2\"}","channel":"chatroom_5"}`, 0},
		{`{"event":"x","channel":"chatrooms.99999999999999999999.v2"}`, 0},
		{`{"event":"x"}`, 0},
		// Frames longer than both windows: key at the end, at the start, in the middle.
		{`{"event":"x","data":"` + strings.Repeat(`\"channel\":\"chatrooms.9.v2\"`, 10) + `","channel":"chatrooms.11.v2"}`, 11},
		{`{"push":{"channel":"chatrooms.12.v2","pub":{"data":"` + strings.Repeat("chatrooms.9 ", 20) + `"}}}`, 12},
		{`{"event":"x","data":"` + strings.Repeat("y", 100) + `","channel":"chatrooms.13.v2","z":"` + strings.Repeat("y", 100) + `"}`, 13},
		{``, 0},
	} {
		if got := chatroomOf([]byte(tt.raw)); got != tt.want {
			t.Errorf("chatroomOf(%s)=%d, want %d", tt.raw, got, tt.want)
		}
	}
}

// TestIngest_MalformedCounted: frames a transport refuses are counted by
// source and reason, and a chat message that does not parse by channel too.
func TestIngest_MalformedCounted(t *testing.T) {
	in := New(Options{Outbox: openStore(t), Matcher: newTestMatcher(t, match.Options{})})
	in.SetChannels(testChannels())
	in.Malformed(kick.Source, kick.ReasonOversized, make([]byte, 300<<10))
	in.Malformed(kick.Source, kick.ReasonOversized, []byte("{"))
	in.Malformed("centrifugo", kick.ReasonJSON, []byte("\xff\xfe"))
	f := newFeeder(in)
	f.feed([]byte(`{"event":`))                       // json
	f.feed([]byte("{\"event\":\"x\xff\"}"))           // utf8
	f.feed([]byte(`{"event":"x","channel":"lobby"}`)) // channel
	bad := kickfake.EncodeFrame(kick.ChannelName(testRoom), kick.EventChatMessage,
		[]byte(`{"id":"m1","content":"@Target_User hi"}`)) // no sender
	f.feed(bad)
	want := map[[2]string]uint64{
		{kick.Source, kick.ReasonOversized}: 2,
		{"centrifugo", kick.ReasonJSON}:     1,
		{kick.Source, kick.ReasonJSON}:      1,
		{kick.Source, kick.ReasonUTF8}:      1,
		{kick.Source, kick.ReasonChannel}:   1,
		{kick.Source, "payload"}:            1,
	}
	s := in.Snapshot()
	if !maps.Equal(s.Malformed, want) {
		t.Errorf("malformed=%v, want %v", s.Malformed, want)
	}
	if got := channelSnap(t, s, testRoom).Frames[ResultMalformed]; got != 1 {
		t.Errorf("channel malformed=%d, want 1", got)
	}
}

// TestIngest_UnknownChannelKeepsTransportID: a chat message on a channel
// that is not configured, whose payload has no chatroom_id, is kept under
// the transport channel's id.
func TestIngest_UnknownChannelKeepsTransportID(t *testing.T) {
	st := openStore(t)
	in := New(Options{Outbox: st, Matcher: newTestMatcher(t, match.Options{})})
	stop := run(t, in)
	in.HandleEvent(pipeline.Event{Source: "test", ChatroomID: 777, Name: "ChatMessageEvent",
		Data: []byte(`{"id":"u1","content":"@Target_User yo","sender":{"id":1,"username":"Someone"}}`)})
	stop()
	m, ok := storedMentions(t, st)["u1"]
	if !ok {
		t.Fatal("u1 not stored")
	}
	if m.ChatroomID != 777 || m.Channel != "chatroom-777" {
		t.Errorf("chatroom_id=%d channel=%q, want 777 chatroom-777", m.ChatroomID, m.Channel)
	}
	if got := in.Snapshot().Unknown[ResultMatched]; got != 1 {
		t.Errorf("unknown matched=%d, want 1", got)
	}
}

// TestIngest_OtherEventsShowChannelAlive: a non-chat event counts as a frame
// of its channel, for staleness checks.
func TestIngest_OtherEventsShowChannelAlive(t *testing.T) {
	in := New(Options{Outbox: openStore(t), Matcher: newTestMatcher(t, match.Options{})})
	in.SetChannels(testChannels())
	at := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	in.HandleEvent(pipeline.Event{Source: kick.Source, ChatroomID: testRoom, Name: `App\Events\UserBannedEvent`,
		Data: []byte(`{}`), Received: at})
	cs := channelSnap(t, in.Snapshot(), testRoom)
	if cs.Frames[ResultOtherEvent] != 1 || !cs.LastFrame.Equal(at) {
		t.Errorf("other=%d last frame=%v, want 1 %v", cs.Frames[ResultOtherEvent], cs.LastFrame, at)
	}
}

// TestIngest_CooldownSuppressedCounted: a repeat match within the cooldown
// is counted as suppressed and not stored.
func TestIngest_CooldownSuppressedCounted(t *testing.T) {
	st := openStore(t)
	in := New(Options{Outbox: st, Matcher: newTestMatcher(t, match.Options{Cooldown: time.Hour})})
	in.SetChannels(testChannels())
	f := newFeeder(in)
	f.feed(mentionFrame("cd-1"))
	f.feed(mentionFrame("cd-2"))
	stop := run(t, in)
	stop()
	cs := channelSnap(t, in.Snapshot(), testRoom)
	if cs.Frames[ResultMatched] != 1 || cs.Frames[ResultSuppressed] != 1 {
		t.Errorf("matched=%d suppressed=%d, want 1 1", cs.Frames[ResultMatched], cs.Frames[ResultSuppressed])
	}
	if n := len(storedMentions(t, st)); n != 1 {
		t.Errorf("rows=%d, want 1", n)
	}
}

// TestIngest_ChannelAndSourceState: subscription and connection reports end
// up in the snapshot; a disconnect makes the source's channels pending.
func TestIngest_ChannelAndSourceState(t *testing.T) {
	in := New(Options{Outbox: openStore(t)})
	in.SetChannels(testChannels())
	in.Connected(kick.Source, true, nil)
	in.ChannelState(kick.Source, testRoom, pipeline.ChannelSubscribed, nil)
	in.ChannelState(kick.Source, 999, pipeline.ChannelSubscribed, nil) // not configured: ignored
	s := in.Snapshot()
	if cs := channelSnap(t, s, testRoom); cs.State != pipeline.ChannelSubscribed || cs.Source != kick.Source {
		t.Errorf("state=%v source=%q, want subscribed pusher", cs.State, cs.Source)
	}
	in.Connected(kick.Source, false, errors.New("connection closed"))
	s = in.Snapshot()
	if cs := channelSnap(t, s, testRoom); cs.State != pipeline.ChannelPending {
		t.Errorf("state after disconnect=%v, want pending", cs.State)
	}
	if len(s.Sources) != 1 || s.Sources[0].Up || s.Sources[0].Reconnects != 1 || s.Sources[0].LastError != "connection closed" {
		t.Errorf("sources=%+v, want pusher down, 1 reconnect, last error", s.Sources)
	}
	// SetChannels keeps the counters of a channel that stays.
	newFeeder(in).feed(chatFrame(testRoom, "x", "Viewer_One", "hello"))
	in.SetChannels(append(testChannels(), pipeline.Channel{Slug: "other", ChatroomID: 5}))
	if got := channelSnap(t, in.Snapshot(), testRoom).Frames[ResultUnmatched]; got != 1 {
		t.Errorf("unmatched after SetChannels=%d, want 1 (kept)", got)
	}
}

func TestBufferFor(t *testing.T) {
	for _, tt := range []struct{ per, n, want int }{
		{500, 1, 500}, {500, 0, 500}, {500, 3, 1500}, {500, 1000, maxBuffer}, {0, 2, 2 * DefaultBuffer},
	} {
		if got := BufferFor(tt.per, tt.n); got != tt.want {
			t.Errorf("BufferFor(%d, %d)=%d, want %d", tt.per, tt.n, got, tt.want)
		}
	}
}

func TestSample(t *testing.T) {
	if got := Sample([]byte("a\x00b\xffc")); got != "a.b.c" {
		t.Errorf("Sample=%q, want a.b.c", got)
	}
	long := Sample([]byte(strings.Repeat("x", 300)))
	if !strings.HasSuffix(long, "…") || len([]rune(long)) != 201 {
		t.Errorf("Sample(300 bytes) has %d runes, want 200 and an ellipsis", len([]rune(long)))
	}
}

// TestIngest_SeenBySourceNotStoredTwice: a match another source already
// brought (Options.Seen) is counted as a duplicate and not stored again.
func TestIngest_SeenBySourceNotStoredTwice(t *testing.T) {
	st := openStore(t)
	var asked []string
	in := New(Options{Outbox: st, Matcher: newTestMatcher(t, match.Options{}),
		Seen: func(msg *pipeline.ChatMessage, source string, _ time.Time) bool {
			asked = append(asked, msg.ID)
			return msg.ID == "seen-1"
		}})
	in.SetChannels(testChannels())
	f := newFeeder(in)
	f.feed(mentionFrame("seen-1"))
	f.feed(mentionFrame("seen-2"))
	stop := run(t, in)
	stop()
	rows := storedMentions(t, st)
	if _, ok := rows["seen-1"]; ok || len(rows) != 1 {
		t.Errorf("stored %v, want only seen-2", slices.Sorted(maps.Keys(rows)))
	}
	if got := in.Snapshot().Duplicates; got != 1 {
		t.Errorf("duplicates=%d, want 1", got)
	}
	if strings.Join(asked, ",") != "seen-1,seen-2" {
		t.Errorf("Seen asked for %v, want both matches", asked)
	}
}
