package console

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"kickwatch/pipeline"
)

var created = time.Date(2025, 8, 20, 7, 7, 44, 0, time.UTC)

func TestSink_Info(t *testing.T) {
	s := New(&bytes.Buffer{})
	if got, want := s.Name(), "console"; got != want {
		t.Fatalf("Name()=%q, want %q", got, want)
	}
	if got, want := s.MaxBatch(), 50; got != want {
		t.Fatalf("MaxBatch()=%d, want %d", got, want)
	}
}

func TestSink_Render(t *testing.T) {
	tests := []struct {
		name string
		m    pipeline.Mention
		want string
	}{
		{
			name: "mention with emote",
			m: pipeline.Mention{
				Channel: "somechannel", Sender: "Viewer_One", Kind: pipeline.KindMention,
				Content:   "hey @Target_User look at this [emote:37226:KEKW]",
				CreatedAt: created,
			},
			want: "[2025-08-20 07:07:44Z] #somechannel  Viewer_One mentioned you:\n" +
				"  hey @Target_User look at this :KEKW:\n",
		},
		{
			name: "reply shows the original message",
			m: pipeline.Mention{
				Channel: "somechannel", Sender: "Viewer_Two", Kind: pipeline.KindReply,
				Content:        "yes [emote:37226:KEKW][emote:1:a!]",
				ReplyToSender:  "Target_User",
				ReplyToMessage: "did you see that [emote:37225:KEKLEO]",
				CreatedAt:      time.Date(2025, 8, 20, 9, 7, 44, 0, time.FixedZone("CEST", 2*3600)),
			},
			want: "[2025-08-20 07:07:44Z] #somechannel  Viewer_Two replied to you:\n" +
				"  yes :KEKW::a!:\n" +
				"  ↳ replying to Target_User: did you see that :KEKLEO:\n",
		},
		{
			name: "reply without a known sender",
			m: pipeline.Mention{
				Channel: "c", Sender: "s", Kind: pipeline.KindReply, Content: "x",
				ReplyToMessage: "original", CreatedAt: created,
			},
			want: "[2025-08-20 07:07:44Z] #c  s replied to you:\n  x\n  ↳ replying to: original\n",
		},
		{
			name: "keyword with rule, time from ReceivedAt",
			m: pipeline.Mention{
				Channel: "c", Sender: "s", Kind: pipeline.KindKeyword, Rule: "giveaway",
				Content: "free giveaway", ReceivedAt: created.Add(time.Second),
			},
			want: "[2025-08-20 07:07:45Z] #c  s matched keyword \"giveaway\":\n  free giveaway\n",
		},
		{
			name: "unknown kind",
			m:    pipeline.Mention{Channel: "c", Sender: "s", Kind: "other", Content: "x", CreatedAt: created},
			want: "[2025-08-20 07:07:44Z] #c  s matched:\n  x\n",
		},
		{
			name: "hostile message",
			m: pipeline.Mention{
				Channel: "evil\x1b]0;pwned\x07", Sender: "Bad\rGuy", Kind: pipeline.KindMention,
				Content: "\x1b[2J\x1b[H@Target_User\nfake line\r\n\x1b[31mred\x1b[0m\ttab\x00nul\x7f" +
					"\u009b31m c1 \u202Eevil\u202C \u2028 \xff\xfe ok ü \uFFFD [emote:1:x]",
				ReplyToSender:  "T\x1b[8m",
				ReplyToMessage: "line1\nline2\x1b]52;c;aGk=\x07",
				CreatedAt:      created,
			},
			want: `[2025-08-20 07:07:44Z] #evil\x1b]0;pwned\x07  Bad\rGuy mentioned you:` + "\n" +
				`  \x1b[2J\x1b[H@Target_User\nfake line\r\n\x1b[31mred\x1b[0m\ttab\x00nul\x7f` +
				`\u009b31m c1 \u202eevil\u202c \u2028 \xff\xfe ok ü ` + "\uFFFD" + ` :x:` + "\n" +
				`  ↳ replying to T\x1b[8m: line1\nline2\x1b]52;c;aGk=\x07` + "\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			res := New(&buf).Deliver(t.Context(), []pipeline.Mention{tt.m})
			if len(res) != 1 || res[0].Outcome != pipeline.Delivered || res[0].Err != nil {
				t.Fatalf("results %+v, want one Delivered", res)
			}
			if got := buf.String(); got != tt.want {
				t.Fatalf("printed:\n%s\nwant:\n%s\n(got %q)", got, tt.want, got)
			}
		})
	}
}

func TestSink_HostileOutputIsInert(t *testing.T) {
	var buf bytes.Buffer
	m := pipeline.Mention{
		Channel: "c\x9b", Sender: "s\u0085", Kind: pipeline.KindMention,
		Content:        "\x1b[2J\r\n\x1bP\x1b\\\x1b]8;;http://x\x07\u0090\u009d\u009f\u200f\x00",
		ReplyToMessage: "\n\n\n",
		CreatedAt:      created,
	}
	New(&buf).Deliver(t.Context(), []pipeline.Mention{m})
	out := buf.String()
	if got, want := strings.Count(out, "\n"), 3; got != want {
		t.Fatalf("printed %d lines, want %d: %q", got, want, out)
	}
	assertInert(t, strings.ReplaceAll(out, "\n", ""))
}

// assertInert fails unless s holds nothing a terminal would act on.
func assertInert(t *testing.T, s string) {
	t.Helper()
	if !utf8.ValidString(s) {
		t.Fatalf("invalid UTF-8 in %q", s)
	}
	for i := range len(s) {
		if c := s[i]; c < 0x20 || c == 0x7f {
			t.Fatalf("control byte %#x left in %q", c, s)
		}
	}
	for _, r := range s {
		if needsEscape(r) {
			t.Fatalf("control %U left in %q", r, s)
		}
	}
}

func TestSink_LongFieldIsCut(t *testing.T) {
	var buf bytes.Buffer
	content := "a" + strings.Repeat("ü", maxFieldBytes) // 2 bytes each: the cut falls inside one
	New(&buf).Deliver(t.Context(), []pipeline.Mention{{Kind: pipeline.KindMention, Content: content, CreatedAt: created}})
	lines := strings.Split(buf.String(), "\n")
	body := strings.TrimPrefix(lines[1], "  ")
	if want := "a" + strings.Repeat("ü", maxFieldBytes/2-1) + "…"; body != want {
		t.Fatalf("body has %d bytes, want %d (cut on a rune boundary, then …)", len(body), len(want))
	}
}

// failWriter fails every write after the first ok ones.
type failWriter struct {
	ok   int
	buf  bytes.Buffer
	err  error
	hits int
}

func (w *failWriter) Write(p []byte) (int, error) {
	w.hits++
	if w.hits > w.ok {
		return 0, w.err
	}
	return w.buf.Write(p)
}

func TestSink_WriteError(t *testing.T) {
	errDisk := errors.New("disk full")
	w := &failWriter{ok: 1, err: errDisk}
	ms := []pipeline.Mention{
		{Sender: "a", Kind: pipeline.KindMention, CreatedAt: created},
		{Sender: "b", Kind: pipeline.KindMention, CreatedAt: created},
		{Sender: "c", Kind: pipeline.KindMention, CreatedAt: created},
	}
	res := New(w).Deliver(t.Context(), ms)
	if got, want := len(res), len(ms); got != want {
		t.Fatalf("got %d results, want %d", got, want)
	}
	if res[0].Outcome != pipeline.Delivered {
		t.Fatalf("result 0: %v, want delivered", res[0].Outcome)
	}
	for i, r := range res[1:] {
		if r.Outcome != pipeline.Retry || !errors.Is(r.Err, errDisk) {
			t.Fatalf("result %d: %v %v, want retry with %v", i+1, r.Outcome, r.Err, errDisk)
		}
	}
	if got, want := w.hits, 2; got != want {
		t.Fatalf("writes=%d, want %d (stop after the first failure)", got, want)
	}
}

func TestSink_ContextDone(t *testing.T) {
	var buf bytes.Buffer
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	res := New(&buf).Deliver(ctx, []pipeline.Mention{{Kind: pipeline.KindMention}, {Kind: pipeline.KindMention}})
	for i, r := range res {
		if r.Outcome != pipeline.Retry || !errors.Is(r.Err, context.Canceled) {
			t.Fatalf("result %d: %v %v, want retry with context.Canceled", i, r.Outcome, r.Err)
		}
	}
	if buf.Len() != 0 {
		t.Fatalf("printed %q after cancel, want nothing", buf.String())
	}
}

func TestSink_Empty(t *testing.T) {
	if got := New(&bytes.Buffer{}).Deliver(t.Context(), nil); len(got) != 0 {
		t.Fatalf("got %d results for no mentions, want 0", len(got))
	}
}

// blockWriter records each Write separately; it is not safe for concurrent
// use, so the race detector catches a Sink that writes without its lock.
type blockWriter struct{ writes []string }

func (w *blockWriter) Write(p []byte) (int, error) {
	w.writes = append(w.writes, string(p))
	return len(p), nil
}

func TestSink_Concurrent(t *testing.T) {
	w := &blockWriter{}
	s := New(w)
	const goroutines, batches = 4, 25
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			ms := make([]pipeline.Mention, 3)
			for i := range ms {
				ms[i] = pipeline.Mention{Sender: string(rune('a' + g)), Kind: pipeline.KindMention, Content: "hi", CreatedAt: created}
			}
			for range batches {
				for _, r := range s.Deliver(t.Context(), ms) {
					if r.Outcome != pipeline.Delivered {
						t.Errorf("outcome %v, want delivered", r.Outcome)
					}
				}
			}
		})
	}
	wg.Wait()
	if got, want := len(w.writes), goroutines*batches*3; got != want {
		t.Fatalf("writes=%d, want %d", got, want)
	}
	for _, b := range w.writes {
		if !strings.HasPrefix(b, "[2025-08-20 07:07:44Z] #  ") || !strings.HasSuffix(b, " mentioned you:\n  hi\n") {
			t.Fatalf("write %q is not one whole block", b)
		}
	}
}

func TestSanitize(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"plain ascii @user !", "plain ascii @user !"},
		{"ünïcödé 日本 🙂 \uFFFD", "ünïcödé 日本 🙂 \uFFFD"},
		{"a\nb\rc\td", `a\nb\rc\td`},
		{"\x1b[31mred\x1b[0m", `\x1b[31mred\x1b[0m`},
		{"\x00\x07\x08\x7f", `\x00\x07\x08\x7f`},
		{"\u0080\u009b\u009f", `\u0080\u009b\u009f`},
		{"\u202Eabc\u2066\u200F\u061C", `\u202eabc\u2066\u200f\u061c`},
		{"\u2028\u2029", `\u2028\u2029`},
		{"\xff\xc3", `\xff\xc3`},
		{"\xc2\x9b", `\u009b`},
		{`back\slash`, `back\slash`},
	}
	for _, tt := range tests {
		if got := Sanitize(tt.in); got != tt.want {
			t.Errorf("Sanitize(%q)=%q, want %q", tt.in, got, tt.want)
		}
	}
}

func FuzzSanitize(f *testing.F) {
	for _, s := range []string{"", "hello", "\x1b[2J\r\n", "\xc2\x9b31m", "\u202Eevil", "\xff\xfe\xfd", "ü\uFFFD"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := Sanitize(s)
		assertInert(t, got)
		if isClean(s) != (got == s) {
			t.Fatalf("Sanitize(%q)=%q: changed=%v, but isClean=%v", s, got, got != s, isClean(s))
		}
		if Sanitize(got) != got {
			t.Fatalf("Sanitize(%q)=%q is not stable", s, got)
		}
	})
}

func BenchmarkDeliver(b *testing.B) {
	s := New(discard{})
	ms := []pipeline.Mention{{
		Channel: "somechannel", Sender: "Viewer_One", Kind: pipeline.KindMention,
		Content: "hey @Target_User look at this [emote:37226:KEKW]", CreatedAt: created,
	}}
	b.ReportAllocs()
	for b.Loop() {
		s.Deliver(b.Context(), ms)
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
