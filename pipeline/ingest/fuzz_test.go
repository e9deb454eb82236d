package ingest

import (
	"context"
	"testing"

	"kickwatch/pipeline"
	"kickwatch/pipeline/match"
	"kickwatch/store"
)

// FuzzIngest feeds raw frame bytes through the transport's path (Prefilter,
// Decoder, HandleEvent). It must never panic, must account for every frame
// exactly once, and must only queue mentions the store can take (a row
// without key or channel would stall the writer).
func FuzzIngest(f *testing.F) {
	for _, name := range frameFiles {
		for _, raw := range loadFrames(f, name) {
			f.Add(raw)
		}
	}
	f.Add(chatFrame(0, "x", "a", "@Target_User"))
	f.Add([]byte(`{"event":"ChatMessageEvent","data":{"id":"1","content":"@tu","sender":{"username":"x"}},"channel":"chatrooms.1.v2"}`))
	f.Add([]byte(`{"event":"App\\Events\\ChatMessageEvent","data":"{\"id\":\"1\",\"chatroom_id\":\"9\",\"content\":\"free  sub\",\"sender\":{\"id\":\"-1\",\"username\":\"x\"}}","channel":"chatrooms.2.v2"}`))

	m, err := match.New(match.Options{
		Username: testUser, UserID: testUserID, Aliases: []string{"tu"}, BareNames: true,
		Rules: []match.Rule{{Name: "giveaway", Keyword: "giveaway"}, {Name: "subs", Regex: `free\s+subs?`}},
	})
	if err != nil {
		f.Fatal(err)
	}
	in := New(Options{Outbox: nopOutbox{}, Matcher: m, Buffer: 8})
	in.SetChannels([]pipeline.Channel{{Slug: testSlug, ChatroomID: testRoom}, {Slug: "one", ChatroomID: 1}})
	fd := newFeeder(in)

	f.Fuzz(func(t *testing.T, raw []byte) {
		before := frameTotal(in.Snapshot())
		refused, protocol := fd.refused, fd.protocol
		fd.feed(raw)
		delta := frameTotal(in.Snapshot()) - before + uint64(fd.refused-refused) + uint64(fd.protocol-protocol)
		if delta != 1 {
			t.Fatalf("frame accounted %d times, want once", delta)
		}
		for {
			select {
			case q := <-in.queue:
				if q.m.MessageID == "" || q.m.Channel == "" {
					t.Fatalf("queued mention without key or channel: %+v", q.m)
				}
				if _, err := pipeline.EncodeMention(&q.m); err != nil {
					t.Fatal(err)
				}
				continue
			default:
			}
			break
		}
	})
}

// frameTotal sums every per-channel and unknown-channel frame result.
func frameTotal(s Snapshot) uint64 {
	var n uint64
	for _, r := range Results() {
		n += s.Unknown[r]
		for _, c := range s.Channels {
			n += c.Frames[r]
		}
	}
	return n
}

type nopOutbox struct{}

func (nopOutbox) EnqueueBatch(_ context.Context, items []store.Item) (store.EnqueueResult, error) {
	return store.EnqueueResult{Inserted: len(items)}, nil
}
