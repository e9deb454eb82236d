package ingest

import (
	"context"
	"testing"

	"kickwatch/pipeline"
	"kickwatch/pipeline/kick"
	"kickwatch/pipeline/kick/kickfake"
	"kickwatch/pipeline/match"
)

// benchMatcher is a typical config: a name, its id, one alias, one keyword.
func benchMatcher(tb testing.TB) *match.Matcher {
	return newTestMatcher(tb, match.Options{Username: testUser, UserID: testUserID, Aliases: []string{"TUser"},
		Rules: []match.Rule{{Name: "giveaway", Keyword: "giveaway"}}})
}

// missFrames are ~400-byte chat frames, as Kick sends them, that do not
// match benchMatcher; several, so branch prediction does not learn one.
func missFrames(tb testing.TB) [][]byte {
	tb.Helper()
	contents := kickfake.Chatter
	frames := make([][]byte, len(contents))
	for i, c := range contents {
		frames[i] = chatFrame(testRoom, "0b6a1f3e-5c2d-4b8e-9a51-7d2c9e4f1a20", "Viewer_One", c)
	}
	return frames
}

func avgLen(frames [][]byte) int64 {
	n := 0
	for _, f := range frames {
		n += len(f)
	}
	return int64(n / len(frames))
}

func benchIngest(b *testing.B) *Ingest {
	in := New(Options{Outbox: nopOutbox{}, Matcher: benchMatcher(b)})
	in.SetChannels(testChannels())
	return in
}

// BenchmarkFastPath_NonMatching is what a transport pays for a chat frame
// that cannot match: Prefilter only (target ≤ 300 ns, 0 allocs).
func BenchmarkFastPath_NonMatching(b *testing.B) {
	in := benchIngest(b)
	frames := missFrames(b)
	for _, f := range frames {
		if !in.Prefilter(f) {
			b.Fatalf("Prefilter(%s)=false, want true", f)
		}
	}
	b.SetBytes(avgLen(frames))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		in.Prefilter(frames[i%len(frames)])
	}
}

// BenchmarkDecodeEverything is the same frames without the fast path: decode
// the Pusher frame, parse the chat message, match it.
func BenchmarkDecodeEverything(b *testing.B) {
	in := benchIngest(b)
	frames := missFrames(b)
	var dec kick.Decoder
	b.SetBytes(avgLen(frames))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		decodeAndHandle(b, in, &dec, frames[i%len(frames)])
	}
	if got := channelSnap(b, in.Snapshot(), testRoom).Frames[ResultMatched]; got != 0 {
		b.Fatalf("matched=%d, want 0", got)
	}
}

// BenchmarkMatchingFrame is a frame that mentions the user: Prefilter (which
// lets it through), decode, parse, match and queue (target ≤ 5 µs). A
// goroutine drains the queue as the writer would.
func BenchmarkMatchingFrame(b *testing.B) {
	in := benchIngest(b)
	in.Resize(maxBuffer) // room for the drainer to fall behind on a busy machine
	frame := chatFrame(testRoom, "0b6a1f3e-5c2d-4b8e-9a51-7d2c9e4f1a20", "Viewer_One",
		"hey @Target_User look at this [emote:37226:KEKW]")
	ctx, cancel := context.WithCancel(context.Background())
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		for {
			select {
			case <-ctx.Done():
				return
			case <-in.queue:
			}
		}
	}()
	var dec kick.Decoder
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		if in.Prefilter(frame) {
			b.Fatal("Prefilter dropped a mention")
		}
		decodeAndHandle(b, in, &dec, frame)
	}
	b.StopTimer()
	cancel()
	<-drained
	cs := channelSnap(b, in.Snapshot(), testRoom)
	if cs.Frames[ResultMatched] == 0 {
		b.Fatal("nothing matched")
	}
	// A drop costs what a queued match costs (one non-blocking send); report
	// them rather than fail when the drainer was starved of CPU.
	b.ReportMetric(float64(cs.Frames[ResultDropped]), "dropped")
}

func decodeAndHandle(b *testing.B, in *Ingest, dec *kick.Decoder, raw []byte) {
	f, err := dec.Decode(raw)
	if err != nil {
		b.Fatal(err)
	}
	id, ok := kick.ChatroomID(f.Channel)
	if !ok {
		b.Fatalf("channel %s", f.Channel)
	}
	in.HandleEvent(pipeline.Event{Source: kick.Source, ChatroomID: id, Name: f.Event, Data: f.Data})
}
