package match

import (
	"testing"

	"kickwatch/pipeline/kick/kickfake"
)

// benchOptions is a typical config: a name, its id, one alias, one keyword.
var benchOptions = Options{Username: "Target_User", UserID: 72805522, Aliases: []string{"TUser"},
	Rules: []Rule{{Name: "giveaway", Keyword: "giveaway"}}}

// missFrames are realistic ~400-byte chat frames that do not match
// benchOptions; several, so branch prediction does not learn one.
func missFrames(tb testing.TB) [][]byte {
	tb.Helper()
	contents := kickfake.Chatter
	frames := make([][]byte, len(contents))
	for i, c := range contents {
		frames[i] = buildFrame(payload(map[string]any{"content": c}), shapePusherPHP)
	}
	return frames
}

func BenchmarkPrefilterMiss(b *testing.B) {
	m := mustNew(b, benchOptions)
	frames := missFrames(b)
	size := 0
	for _, f := range frames {
		size += len(f)
		if !m.Prefilter(f) {
			b.Fatalf("Prefilter(%s) = false, want true", f)
		}
	}
	b.SetBytes(int64(size / len(frames)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		m.Prefilter(frames[i%len(frames)])
	}
}

// BenchmarkDecodeEverything is the path without a prefilter: decode the
// outer frame, the inner data, then match.
func BenchmarkDecodeEverything(b *testing.B) {
	m := mustNew(b, benchOptions)
	frames := missFrames(b)
	size := 0
	for _, f := range frames {
		size += len(f)
	}
	b.SetBytes(int64(size / len(frames)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		msg, err := decodeFrame(frames[i%len(frames)])
		if err != nil {
			b.Fatal(err)
		}
		if _, _, ok := m.Match(msg); ok {
			b.Fatal("miss frame matched")
		}
	}
}

// BenchmarkDecodeMatchMention is the cost of a frame that does match:
// prefilter, decode, match.
func BenchmarkDecodeMatchMention(b *testing.B) {
	m := mustNew(b, benchOptions)
	frame := buildFrame(payload(map[string]any{"content": "hey @Target_User look at this [emote:37226:KEKW]"}), shapePusherPHP)
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		if m.Prefilter(frame) {
			b.Fatal("mention dropped")
		}
		msg, err := decodeFrame(frame)
		if err != nil {
			b.Fatal(err)
		}
		if _, _, ok := m.Match(msg); !ok {
			b.Fatal("mention not matched")
		}
	}
}

// BenchmarkMatch is Match alone on a decoded mention.
func BenchmarkMatch(b *testing.B) {
	m := mustNew(b, benchOptions)
	msg := chat("hey @Target_User look at this [emote:37226:KEKW]")
	b.ReportAllocs()
	for b.Loop() {
		if _, _, ok := m.Match(msg); !ok {
			b.Fatal("mention not matched")
		}
	}
}
