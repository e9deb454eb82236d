package ingest

import (
	"maps"
	"slices"
	"testing"

	"kickwatch/pipeline"
	"kickwatch/pipeline/kick"
	"kickwatch/pipeline/match"
)

// TestGolden_RecordedFrames feeds every recorded frame through the
// transport's path into a real matcher and a real SQLite outbox, and checks
// the outbox holds exactly the mentions testdata/frames/expected.json lists,
// and the counters what it says.
func TestGolden_RecordedFrames(t *testing.T) {
	exp := loadExpected(t)
	m, err := match.New(match.Options{Username: exp.Username, UserID: exp.UserID, BareNames: exp.BareNames})
	if err != nil {
		t.Fatal(err)
	}
	st := openStore(t)
	rec := newRecOutbox(st)
	in := New(Options{Outbox: rec, Matcher: m})
	var chs []pipeline.Channel
	for _, c := range exp.Channels {
		chs = append(chs, pipeline.Channel{Slug: c.Slug, ChatroomID: c.ChatroomID})
	}
	in.SetChannels(chs)
	stop := run(t, in)

	f := newFeeder(in)
	total := 0
	for _, name := range frameFiles {
		for _, raw := range loadFrames(t, name) {
			f.feed(raw)
			total++
		}
	}
	stop() // Run stores what is queued before it returns

	// Every chat message in the recordings has an expectation, and every
	// expectation a chat message: a frame added later cannot go unchecked.
	checkExpectationsComplete(t, exp)

	got := storedMentions(t, st)
	want := map[string]expectedMessage{}
	for _, e := range exp.Messages {
		if e.Kind != nil {
			want[e.ID] = e
		}
	}
	for id, e := range want {
		g, ok := got[id]
		if !ok {
			t.Errorf("%s (%s): not in the outbox, want %s by %s", id, e.Note, *e.Kind, e.Rule)
			continue
		}
		checkMention(t, g, e)
	}
	for id, g := range got {
		if _, ok := want[id]; !ok {
			t.Errorf("%s: in the outbox as %s (%s, %q), want no mention", id, g.Kind, g.Rule, g.Content)
		}
	}
	if len(got) != len(want) {
		t.Errorf("outbox rows=%d, want %d", len(got), len(want))
	}

	snap := in.Snapshot()
	if len(snap.Channels) != len(chs) {
		t.Fatalf("channels=%d, want %d", len(snap.Channels), len(chs))
	}
	cs := snap.Channels[0]
	sum := uint64(0)
	for _, r := range Results() {
		if got, want := cs.Frames[r], exp.Counters[r.String()]; got != want {
			t.Errorf("channel %s frames[%s]=%d, want %d", cs.Slug, r, got, want)
		}
		if n := snap.Unknown[r]; n != 0 {
			t.Errorf("unknown-channel frames[%s]=%d, want 0", r, n)
		}
		sum += cs.Frames[r]
	}
	for k, want := range exp.Kinds {
		if got := cs.Mentions[pipeline.Kind(k)]; got != want {
			t.Errorf("mentions[%s]=%d, want %d", k, got, want)
		}
	}
	wantMalformed := map[[2]string]uint64{}
	for reason, n := range exp.Malformed {
		wantMalformed[[2]string{kick.Source, reason}] = n
	}
	if !maps.Equal(snap.Malformed, wantMalformed) {
		t.Errorf("malformed=%v, want %v", snap.Malformed, wantMalformed)
	}
	// Every frame is accounted for exactly once.
	if got := int(sum) + f.refused + f.protocol; got != total {
		t.Errorf("frames accounted=%d (channel %d, refused %d, protocol %d), want %d", got, sum, f.refused, f.protocol, total)
	}
	if snap.Lost != 0 || snap.Duplicates != 0 || snap.Dropped() != 0 {
		t.Errorf("lost=%d duplicates=%d dropped=%d, want 0", snap.Lost, snap.Duplicates, snap.Dropped())
	}
	if st := rec.stats(); st.items != len(want) {
		t.Errorf("items committed=%d, want %d", st.items, len(want))
	}
}

func checkMention(t *testing.T, g pipeline.Mention, e expectedMessage) {
	t.Helper()
	check := func(field, got, want string) {
		if got != want {
			t.Errorf("%s (%s): %s=%q, want %q", e.ID, e.Note, field, got, want)
		}
	}
	check("kind", string(g.Kind), string(*e.Kind))
	check("rule", g.Rule, e.Rule)
	check("sender", g.Sender, e.Sender)
	check("channel", g.Channel, e.Channel)
	check("content", g.Content, e.Content)
	check("source", g.Source, kick.Source)
	if g.ChatroomID != e.ChatroomID {
		t.Errorf("%s: chatroom_id=%d, want %d", e.ID, g.ChatroomID, e.ChatroomID)
	}
	if g.CreatedAt.IsZero() || g.ReceivedAt.IsZero() {
		t.Errorf("%s: created_at=%v received_at=%v, want both set", e.ID, g.CreatedAt, g.ReceivedAt)
	}
	if e.ReplyTo == nil {
		if g.ReplyToID != "" || g.ReplyToSender != "" || g.ReplyToMessage != "" {
			t.Errorf("%s: reply_to=%q/%q/%q, want none", e.ID, g.ReplyToID, g.ReplyToSender, g.ReplyToMessage)
		}
		return
	}
	check("reply_to_id", g.ReplyToID, e.ReplyTo.ID)
	check("reply_to_sender", g.ReplyToSender, e.ReplyTo.Sender)
	check("reply_to_message", g.ReplyToMessage, e.ReplyTo.Content)
}

// checkExpectationsComplete checks expected.json lists each ChatMessageEvent
// of the chat recordings once, and nothing else.
func checkExpectationsComplete(t *testing.T, exp expectation) {
	t.Helper()
	listed := map[string]int{}
	for _, e := range exp.Messages {
		listed[e.ID]++
		if e.Kind != nil && (e.Rule == "" || e.Sender == "" || e.Channel == "") {
			t.Errorf("expected.json %s: a match needs rule, sender and channel", e.ID)
		}
	}
	var dec kick.Decoder
	seen := map[string]bool{}
	for _, name := range frameFiles {
		for _, raw := range loadFrames(t, name) {
			fr, err := dec.Decode(raw)
			if err != nil || !kick.IsChatMessageEvent(fr.Event) {
				continue
			}
			msg, err := kick.ParseChatMessage(fr.Data)
			if err != nil {
				t.Errorf("%s: recorded chat message does not parse: %v", name, err)
				continue
			}
			seen[msg.ID] = true
			if listed[msg.ID] != 1 {
				t.Errorf("%s: message %s is listed %d times in expected.json, want once", name, msg.ID, listed[msg.ID])
			}
		}
	}
	for _, id := range slices.Sorted(maps.Keys(listed)) {
		if !seen[id] {
			t.Errorf("expected.json lists %s, which no recorded frame carries", id)
		}
	}
}
