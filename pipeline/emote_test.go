package pipeline

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestPlainEmotes(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", ""},
		{"no emotes", "hey @Target_User", "hey @Target_User"},
		{"one", "hey @Target_User look at this [emote:37226:KEKW]", "hey @Target_User look at this :KEKW:"},
		{"adjacent", "[emote:17289:frankdimespeepolove][emote:16676:frankdimesVibe]", ":frankdimespeepolove::frankdimesVibe:"},
		{"text after", "[emote:3989851:litneyspears4Max]on my way", ":litneyspears4Max:on my way"},
		{"name charset", "[emote:1:a-b_c!9]", ":a-b_c!9:"},
		{"empty id", "[emote::KEKW]", "[emote::KEKW]"},
		{"empty name", "[emote:1:]", "[emote:1:]"},
		{"letter in id", "[emote:12a:KEKW]", "[emote:12a:KEKW]"},
		{"bad name byte", "[emote:1:KE KW]", "[emote:1:KE KW]"},
		{"unicode name", "[emote:1:KEKé]", "[emote:1:KEKé]"},
		{"unterminated", "[emote:1:KEKW", "[emote:1:KEKW"},
		{"prefix only", "[emote:", "[emote:"},
		{"wrong case", "[EMOTE:1:KEKW]", "[EMOTE:1:KEKW]"},
		{"extra colon", "[emote:1:2:KEKW]", "[emote:1:2:KEKW]"},
		{"brackets in text", "a]b[c] [emote:1:x] ]", "a]b[c] :x: ]"},
		{"bracket before token", "[[emote:1:x]]", "[:x:]"},
		{"malformed then good", "[emote:1:a b][emote:2:c]", "[emote:1:a b]:c:"},
		{"nested completes a token", "[emote[emote:5:12]:x]", "[emote:12::x]"},
		{"replacement forms a token", "[emote[emote:5:12]x]", ":x:"},
		{"deep nesting", "[emote[emote[emote:1:2]3]4]", ":4:"},
		{"multibyte around", "ß[emote:1:x]ü", "ß:x:ü"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := PlainEmotes(tt.in); got != tt.want {
				t.Fatalf("PlainEmotes(%q)=%q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestPlainEmotes_NoAllocWithoutTokens(t *testing.T) {
	s := "hey @Target_User look at this [not an emote]"
	if got := testing.AllocsPerRun(100, func() { _ = PlainEmotes(s) }); got != 0 {
		t.Fatalf("allocs=%v, want 0", got)
	}
}

// hasEmoteToken reports whether s contains a well-formed emote token. It is
// written independently of PlainEmotes (a forward scan at every prefix).
func hasEmoteToken(s string) bool {
	for i := 0; ; i++ {
		k := strings.Index(s[i:], emotePrefix)
		if k < 0 {
			return false
		}
		i += k
		rest := s[i+len(emotePrefix):]
		d := 0
		for d < len(rest) && rest[d] >= '0' && rest[d] <= '9' {
			d++
		}
		if d == 0 || d == len(rest) || rest[d] != ':' {
			continue
		}
		rest = rest[d+1:]
		n := 0
		for n < len(rest) && isEmoteNameByte(rest[n]) {
			n++
		}
		if n > 0 && n < len(rest) && rest[n] == ']' {
			return true
		}
	}
}

func FuzzPlainEmotes(f *testing.F) {
	for _, s := range []string{
		"",
		"hey @Target_User look at this [emote:37226:KEKW]",
		"[emote:17289:frankdimespeepolove][emote:16676:frankdimesVibe]",
		"[emote[emote:5:12]x]",
		"[emote[emote[emote:1:2]3]4]",
		"[emote:1:a b][emote:2:c]",
		"[emote::]]]][emote:",
		"\x1b[31m[emote:1:x]\xff",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := PlainEmotes(s)
		if hasEmoteToken(got) {
			t.Fatalf("PlainEmotes(%q)=%q still holds a token", s, got)
		}
		if again := PlainEmotes(got); again != got {
			t.Fatalf("not idempotent: PlainEmotes(%q)=%q, then %q", s, got, again)
		}
		if len(got) > len(s) {
			t.Fatalf("output %q longer than input %q", got, s)
		}
		if !hasEmoteToken(s) && got != s {
			t.Fatalf("PlainEmotes(%q)=%q changed a string without tokens", s, got)
		}
		if utf8.ValidString(s) && !utf8.ValidString(got) {
			t.Fatalf("PlainEmotes(%q)=%q broke UTF-8", s, got)
		}
	})
}

func BenchmarkPlainEmotes(b *testing.B) {
	s := "hey @Target_User look at this [emote:37226:KEKW] and [emote:37225:KEKLEO] lol"
	b.ReportAllocs()
	b.SetBytes(int64(len(s)))
	for b.Loop() {
		_ = PlainEmotes(s)
	}
}
