package discord

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"kickwatch/pipeline"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/discord")

// goldenDir is testdata/discord at the repository root.
var goldenDir = filepath.Join("..", "..", "testdata", "discord")

var t0 = time.Date(2025, 8, 20, 7, 7, 44, 0, time.UTC)

func mention(sender, content string) pipeline.Mention {
	return pipeline.Mention{
		MessageID: "0b6a1f3e-5c2d-4b8e-9a51-7d2c9e4f1a20", ChatroomID: 2346570, Channel: "xqc",
		SenderID: 4815162, Sender: sender, Content: content, Kind: pipeline.KindMention,
		CreatedAt: t0, ReceivedAt: t0.Add(time.Second), Source: "pusher",
	}
}

func reply(sender, content, original string) pipeline.Mention {
	m := mention(sender, content)
	m.Kind = pipeline.KindReply
	m.ReplyToSender, m.ReplyToMessage, m.ReplyToID = "Target_User", original, "f08e9286-3390-4720-a292-266b7f80ab39"
	return m
}

func batch(n int) []pipeline.Mention {
	ms := make([]pipeline.Mention, n)
	for i := range ms {
		ms[i] = mention("Viewer_"+string(rune('A'+i)), "hey @Target_User number "+string(rune('0'+i%10))+" [emote:37226:KEKW]")
		ms[i].CreatedAt = t0.Add(time.Duration(i) * time.Second)
	}
	return ms
}

func render(ms ...pipeline.Mention) []embed {
	es := make([]embed, len(ms))
	for i := range ms {
		es[i] = renderEmbed(&ms[i])
	}
	return es
}

func TestRender_Golden(t *testing.T) {
	limits := reply(strings.Repeat("N", 300), strings.Repeat("😀", 5000), strings.Repeat("é", 3000))
	limits.Channel = strings.Repeat("c", 200)
	tests := []struct {
		name string
		ms   []pipeline.Mention
	}{
		{"mention", []pipeline.Mention{mention("Viewer_One", "hey @Target_User look at this [emote:37226:KEKW]")}},
		{"reply", []pipeline.Mention{reply("Viewer_One", "@Target_User agreed", "did you see that [emote:37225:KEKLEO]")}},
		{"hostile", []pipeline.Mention{reply("**bold**_[x](https://evil)",
			"[click](https://evil) @everyone @here <@123> <t:0> `code` ```block``` ||spoiler|| ~~s~~ > quote\n# head\n- item \\ \u202Eevil",
			"\x00\r\n   ")}},
		{"batch10", batch(10)},
		{"limits", []pipeline.Mention{limits}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := messageBody("", render(tt.ms...))
			if err != nil {
				t.Fatal(err)
			}
			var pretty bytes.Buffer
			if err := json.Indent(&pretty, got, "", "  "); err != nil {
				t.Fatal(err)
			}
			pretty.WriteByte('\n')
			path := filepath.Join(goldenDir, tt.name+".json")
			if *update {
				if err := os.MkdirAll(goldenDir, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, pretty.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("read golden (run with -update to create): %v", err)
			}
			if !bytes.Equal(pretty.Bytes(), want) {
				t.Errorf("%s differs from the golden file; got:\n%s", path, pretty.Bytes())
			}
			checkLimits(t, got)
		})
	}
}

func TestRender_Layout(t *testing.T) {
	e := renderEmbed(&[]pipeline.Mention{reply("Viewer_One", "hi", "orig")}[0])
	if got, want := e.Description, `Viewer\_One Reply in xqc`; got != want {
		t.Errorf("description=%q, want %q", got, want)
	}
	var names []string
	for _, f := range e.Fields {
		names = append(names, f.Name)
	}
	if got, want := strings.Join(names, ","), "Original Message,Message,Channel,User"; got != want {
		t.Errorf("fields=%s, want %s", got, want)
	}
	if got, want := e.Fields[2].Value, "[xqc](https://kick.com/xqc)"; got != want {
		t.Errorf("channel=%q, want %q", got, want)
	}
	if e.Color != 5504024 || e.Timestamp != "2025-08-20T07:07:44Z" || e.Footer.Text != "Kick Notification" || e.Title != "Notification on Kick" {
		t.Errorf("fixed parts: %+v", e)
	}
	kw := mention("A", "b")
	kw.Kind = pipeline.KindKeyword
	if got := renderEmbed(&kw).Description; got != "A Mention in xqc" {
		t.Errorf("keyword description=%q, want the Mention wording", got)
	}
}

func TestEscapeMarkdown(t *testing.T) {
	tests := []struct{ in, want string }{
		{"[click](https://evil)", `\[click\]\(https://evil\)`},
		{"@everyone and @here", "@\u200beveryone and @\u200bhere"},
		{"@EveryOne", "@\u200bEveryOne"},
		{"@Target_User", `@Target\_User`},
		{"`code`", "\\`code\\`"},
		{"<@123> <#1> <t:0:R>", `\<@123\> \<\#1\> \<t:0:R\>`},
		{`back\slash`, `back\\slash`},
		{"a*b_c~d|e>f#g-h", `a\*b\_c\~d\|e\>f\#g\-h`},
		{"plain text 😀", "plain text 😀"},
	}
	for _, tt := range tests {
		if got := escapeMarkdown(tt.in); got != tt.want {
			t.Errorf("escapeMarkdown(%q)=%q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestChat(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"emote", "gg [emote:37226:KEKW][emote:1:a_b]", `gg :KEKW::a\_b:`},
		{"newlines", "a\nb\r\nc\td", "a b  c d"},
		{"controls and bidi", "a\x00b\u202Ec\u2066d", "abcd"},
		{"blank", " \n\t ", placeholder},
		{"empty", "", placeholder},
		{"invalid utf8", "a\xffb", "a\uFFFDb"},
	}
	for _, tt := range tests {
		if got := chat(tt.in); got != tt.want {
			t.Errorf("%s: chat(%q)=%q, want %q", tt.name, tt.in, got, tt.want)
		}
	}
}

func TestTruncate_CodePoints(t *testing.T) {
	tests := []struct {
		name string
		in   string
		max  int
		want string
	}{
		{"fits", "abc", 3, "abc"},
		{"ascii", "abcdef", 4, "abc…"},
		{"emoji", strings.Repeat("😀", 10), 5, "😀😀😀😀…"},
		{"flag is two code points", strings.Repeat("🇫🇷", 3), 4, "🇫🇷🇫…"},
		{"no lone backslash", `ab\*cd`, 4, "ab…"},
		{"escaped backslash kept", `a\\\\b`, 4, `a\\…`},
	}
	for _, tt := range tests {
		got := truncate(tt.in, tt.max)
		if got != tt.want {
			t.Errorf("%s: truncate=%q, want %q", tt.name, got, tt.want)
		}
		if n := utf8.RuneCountInString(got); n > tt.max {
			t.Errorf("%s: %d code points, want ≤ %d", tt.name, n, tt.max)
		}
	}
}

func TestChat_LongHostile(t *testing.T) {
	for _, in := range []string{strings.Repeat("x", 10000), strings.Repeat("[", 10000), strings.Repeat("😀", 10000)} {
		got := chat(in)
		if n := utf8.RuneCountInString(got); n > maxFieldValue || n < maxFieldValue-1 {
			t.Errorf("chat(%.10q…) has %d code points, want %d (or one less to drop a lone backslash)", in, n, maxFieldValue)
		}
		if !strings.HasSuffix(got, ellipsis) {
			t.Errorf("chat(%.10q…) does not end with an ellipsis", in)
		}
		if !escapedOK(strings.TrimSuffix(got, ellipsis)) {
			t.Errorf("chat(%.10q…) leaves markdown unescaped", in)
		}
	}
}

func TestPack(t *testing.T) {
	tests := []struct {
		name  string
		sizes []int
		want  []int
	}{
		{"empty", nil, nil},
		{"one", []int{100}, []int{1}},
		{"ten fit", []int{100, 100, 100, 100, 100, 100, 100, 100, 100, 100}, []int{10}},
		{"eleven", []int{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, []int{10, 11}},
		{"6000 total", []int{3000, 3000, 1}, []int{2, 3}},
		{"over 6000", []int{3000, 2000, 1001, 5}, []int{2, 4}},
	}
	for _, tt := range tests {
		got := pack(tt.sizes)
		if len(got) != len(tt.want) {
			t.Errorf("%s: pack=%v, want %v", tt.name, got, tt.want)
			continue
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("%s: pack=%v, want %v", tt.name, got, tt.want)
			}
		}
	}
}

// escapedOK reports whether every markdown character in s is escaped.
func escapedOK(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\\' {
			if i+1 >= len(s) || !strings.ContainsRune(markdownSpecial, rune(s[i+1])) {
				return false
			}
			i++
			continue
		}
		if strings.IndexByte(markdownSpecial, c) >= 0 {
			return false
		}
	}
	return true
}

// checkLimits decodes a request body and checks every Discord limit (A4).
func checkLimits(t *testing.T, body []byte) {
	t.Helper()
	if !json.Valid(body) {
		t.Fatalf("invalid JSON: %s", body)
	}
	var p payload
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatal(err)
	}
	if p.AllowedMentions.Parse == nil || len(p.AllowedMentions.Parse) != 0 || !bytes.Contains(body, []byte(`"allowed_mentions":{"parse":[]}`)) {
		t.Errorf("allowed_mentions is not {\"parse\": []}")
	}
	if len(p.Embeds) == 0 || len(p.Embeds) > maxEmbeds {
		t.Errorf("%d embeds", len(p.Embeds))
	}
	total := 0
	for _, e := range p.Embeds {
		total += e.size()
		lim := func(what, s string, max int) {
			if n := runes(s); n > max {
				t.Errorf("%s has %d code points, want ≤ %d", what, n, max)
			}
		}
		lim("title", e.Title, maxTitle)
		lim("description", e.Description, maxDescription)
		lim("footer", e.Footer.Text, maxFooter)
		if len(e.Fields) > maxFields {
			t.Errorf("%d fields", len(e.Fields))
		}
		for _, f := range e.Fields {
			lim("field name", f.Name, maxFieldName)
			lim("field "+f.Name, f.Value, maxFieldValue)
			if runes(f.Value) == 0 || runes(f.Name) == 0 {
				t.Errorf("empty field %q=%q", f.Name, f.Value)
			}
			placeholder := f.Value == placeholder || f.Value == unknownName
			if !placeholder && (f.Name == "Message" || f.Name == "Original Message" || f.Name == "User") {
				if !escapedOK(strings.TrimSuffix(f.Value, ellipsis)) {
					t.Errorf("field %s=%q leaves markdown unescaped", f.Name, f.Value)
				}
			}
		}
		text := e.Description
		for _, f := range e.Fields {
			if f.Name != "Channel" {
				text += f.Value
			}
		}
		if l := strings.ToLower(text); strings.Contains(l, "@everyone") || strings.Contains(l, "@here") {
			t.Errorf("@everyone/@here not neutralised: %q", text)
		}
	}
	if total > maxMessageText {
		t.Errorf("message text %d code points, want ≤ %d", total, maxMessageText)
	}
}

func FuzzRenderEmbed(f *testing.F) {
	f.Add("Viewer_One", "hey @Target_User [emote:37226:KEKW]", "xqc", "", false)
	f.Add("**x**", "[click](https://evil) @everyone `a` \n# h", "a)b(c", "orig", true)
	f.Add("", "", "", "", true)
	f.Add(strings.Repeat("😀", 300), strings.Repeat(`\`, 3000), strings.Repeat("[", 300), strings.Repeat("é", 2000), true)
	f.Add("\xff\xfe", "a\x00\u202Eb", "\t", " ", false)
	f.Fuzz(func(t *testing.T, sender, content, channel, original string, isReply bool) {
		m := mention(sender, content)
		m.Channel = channel
		if isReply {
			m = reply(sender, content, original)
			m.Channel = channel
		}
		es := render(m, m, m, m, m, m, m, m, m, m)
		lo := 0
		sizes := make([]int, len(es))
		for i := range es {
			sizes[i] = es[i].size()
		}
		for _, hi := range pack(sizes) {
			body, err := messageBody("", es[lo:hi])
			if err != nil {
				t.Fatal(err)
			}
			checkLimits(t, body)
			lo = hi
		}
	})
}

func BenchmarkRenderBatch10(b *testing.B) {
	ms := batch(10)
	ms[3] = reply("Viewer_Reply", strings.Repeat("long message with [link](x) ", 30), "the original [emote:1:KEKW]")
	b.ReportAllocs()
	for b.Loop() {
		es := make([]embed, len(ms))
		for i := range ms {
			es[i] = renderEmbed(&ms[i])
		}
		if _, err := messageBody("", es); err != nil {
			b.Fatal(err)
		}
	}
}
