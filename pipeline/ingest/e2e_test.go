package ingest

import (
	"context"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"kickwatch/pipeline"
	"kickwatch/pipeline/kick"
	"kickwatch/pipeline/kick/kickfake"
	"kickwatch/pipeline/match"
)

// TestEndToEnd_KickfakeToOutbox runs the real Pusher transport against the
// fake Kick server with ingest as its handler, publishes the recorded 2025
// chat and waits for the outbox to hold the expected mentions.
func TestEndToEnd_KickfakeToOutbox(t *testing.T) {
	exp := loadExpected(t)
	fake := kickfake.New(kickfake.Options{})
	srv := httptest.NewServer(fake.Handler())
	t.Cleanup(srv.Close)
	t.Cleanup(fake.Drop) // before srv.Close (cleanups run last first): Close waits for the sockets

	st := openStore(t)
	m, err := match.New(match.Options{Username: exp.Username, UserID: exp.UserID, BareNames: exp.BareNames})
	if err != nil {
		t.Fatal(err)
	}
	in := New(Options{Outbox: st, Matcher: m})
	chs := []pipeline.Channel{{Slug: exp.Channels[0].Slug, ChatroomID: exp.Channels[0].ChatroomID}}
	in.SetChannels(chs)
	tr := kick.New(kick.Options{URL: fake.SocketURL(srv.URL), HTTPClient: srv.Client()})
	tr.SetChannels(chs)

	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	runCtx, stopAll := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { _ = tr.Run(runCtx, in) })
	wg.Go(func() { _ = in.Run(runCtx) })
	defer func() { stopAll(); wg.Wait() }()

	if err := fake.WaitSubscribed(ctx, chs[0].ChatroomID); err != nil {
		t.Fatal(err)
	}
	frames := loadFrames(t, "chat_2025.jsonl")
	for _, raw := range frames {
		if n := fake.PublishFrame(raw); n != 1 {
			t.Fatalf("published to %d sockets, want 1", n)
		}
	}

	want := map[string]expectedMessage{}
	var ids []string
	for _, raw := range frames {
		var dec kick.Decoder
		fr, err := dec.Decode(raw)
		if err != nil {
			t.Fatal(err)
		}
		msg, err := kick.ParseChatMessage(fr.Data)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, msg.ID)
	}
	inFile := map[string]bool{}
	for _, id := range ids {
		inFile[id] = true
	}
	for _, e := range exp.Messages {
		if e.Kind != nil && inFile[e.ID] {
			want[e.ID] = e
		}
	}
	if len(want) == 0 {
		t.Fatal("expected.json lists no mention in chat_2025.jsonl")
	}

	// Once every frame is counted and every match committed, the outbox is final.
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		cs := channelSnap(t, in.Snapshot(), chs[0].ChatroomID)
		seen := uint64(0)
		for _, r := range Results() {
			seen += cs.Frames[r]
		}
		got := storedMentions(t, st)
		if seen == uint64(len(frames)) && uint64(len(got)) == cs.Frames[ResultMatched] {
			for id, e := range want {
				g, ok := got[id]
				if !ok {
					t.Errorf("%s (%s): not stored", id, e.Note)
					continue
				}
				checkMention(t, g, e)
			}
			for id, g := range got {
				if _, ok := want[id]; !ok {
					t.Errorf("%s: stored as %s (%q), want no mention", id, g.Kind, g.Content)
				}
			}
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("outbox has %d of %d mentions, %d of %d frames seen: %v", len(got), len(want), seen, len(frames), ctx.Err())
		case <-tick.C:
		}
	}

	s := in.Snapshot()
	cs := channelSnap(t, s, chs[0].ChatroomID)
	if cs.State != pipeline.ChannelSubscribed || cs.Source != kick.Source {
		t.Errorf("channel state=%v source=%q, want subscribed via pusher", cs.State, cs.Source)
	}
	if len(s.Sources) != 1 || !s.Sources[0].Up {
		t.Errorf("sources=%+v, want pusher up", s.Sources)
	}
	if len(s.Malformed) != 0 || s.Dropped() != 0 || s.Lost != 0 {
		t.Errorf("malformed=%v dropped=%d lost=%d, want none", s.Malformed, s.Dropped(), s.Lost)
	}
}
