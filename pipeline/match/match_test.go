package match

import (
	"strings"
	"testing"

	"kickwatch/pipeline"
)

func mustNew(t testing.TB, o Options) *Matcher {
	t.Helper()
	m, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return m
}

func chat(content string) *pipeline.ChatMessage {
	return &pipeline.ChatMessage{ID: "m1", ChatroomID: 7, Channel: "somechan", Type: "message", Content: content, SenderID: 99, Sender: "Viewer_One"}
}

type matchCase struct {
	name     string
	msg      *pipeline.ChatMessage
	wantKind pipeline.Kind // "" for no match
	wantRule string
}

func runCases(t *testing.T, m *Matcher, cases []matchCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			kind, rule, ok := m.Match(c.msg)
			if ok != (c.wantKind != "") || kind != c.wantKind || rule != c.wantRule {
				t.Fatalf("Match(%q) = %q, %q, %v; want %q, %q", c.msg.Content, kind, rule, ok, c.wantKind, c.wantRule)
			}
		})
	}
}

func TestMatch_AtMentions(t *testing.T) {
	m := mustNew(t, Options{Username: "bob", Aliases: []string{"bobby2", "@Robert"}})
	mention := pipeline.KindMention
	runCases(t, m, []matchCase{
		{"issue hi @Bob!", chat("hi @Bob!"), mention, "mention:@bob"},
		{"issue @bob,", chat("@bob,"), mention, "mention:@bob"},
		{"at end", chat("look @bob"), mention, "mention:@bob"},
		{"whole message", chat("@bob"), mention, "mention:@bob"},
		{"upper", chat("@BOB hello"), mention, "mention:@bob"},
		{"issue @bobby", chat("@bobby"), "", ""},
		{"issue email@bob", chat("email@bob"), "", ""},
		{"digit before at", chat("1@bob"), "", ""},
		{"underscore before at", chat("_@bob"), "", ""},
		{"underscore after", chat("@bob_"), "", ""},
		{"digit after", chat("@bob1"), "", ""},
		{"period after", chat("@bob."), mention, "mention:@bob"},
		{"paren around", chat("(@bob)"), mention, "mention:@bob"},
		{"double at", chat("@@bob"), mention, "mention:@bob"},
		{"unicode before", chat("é@bob"), mention, "mention:@bob"},
		{"unicode after", chat("@bobé"), mention, "mention:@bob"},
		{"emoji after", chat("@bob🎉"), mention, "mention:@bob"},
		{"newline", chat("x\n@bob\ny"), mention, "mention:@bob"},
		{"second occurrence counts", chat("@bobby and @bob"), mention, "mention:@bob"},
		{"bare not on by default", chat("bob said hi"), "", ""},
		{"alias", chat("yo @BOBBY2"), mention, "alias:@bobby2"},
		{"alias given with at", chat("@robert hi"), mention, "alias:@Robert"},
		{"alias boundary", chat("@bobby23"), "", ""},
		{"empty", chat(""), "", ""},
		{"just at", chat("@"), "", ""},
	})
}

func TestMatch_KelvinSignNotAName(t *testing.T) {
	m := mustNew(t, Options{Username: "kevin"})
	if _, _, ok := m.Match(chat("@\u212Aevin hi")); ok {
		t.Fatal("Kelvin sign matched as k; names fold ASCII only")
	}
}

func TestMatch_BareNames(t *testing.T) {
	m := mustNew(t, Options{Username: "bob", Aliases: []string{"bobby2"}, BareNames: true})
	mention := pipeline.KindMention
	runCases(t, m, []matchCase{
		{"issue bob said", chat("bob said"), mention, "mention:bob"},
		{"issue bobby", chat("bobby"), "", ""},
		{"issue x_bob", chat("x_bob"), "", ""},
		{"end", chat("thanks Bob"), mention, "mention:bob"},
		{"punct", chat("bob, hi"), mention, "mention:bob"},
		{"at preferred", chat("bob and @bob"), mention, "mention:@bob"},
		{"email stays unmatched", chat("email@bob"), "", ""},
		{"emote token", chat("[emote:123:bob]"), "", ""},
		{"emote token id", chat("[emote:123:x]"), "", ""},
		{"after emote token", chat("[emote:123:bob] bob"), mention, "mention:bob"},
		{"broken emote token", chat("[emote:12 bob]"), mention, "mention:bob"},
		{"emote then @", chat("[emote:1:x]@bob"), mention, "mention:@bob"},
		{"alias bare", chat("hi bobby2"), mention, "alias:bobby2"},
		{"unicode neighbours", chat("ébobé"), mention, "mention:bob"},
		{"digit neighbour", chat("2bob"), "", ""},
	})
}

func TestMatch_Replies(t *testing.T) {
	m := mustNew(t, Options{Username: "Target_User", UserID: 72805522})
	reply := func(sender string, id int64, content string) *pipeline.ChatMessage {
		c := chat(content)
		c.Type = "reply"
		c.ReplyTo = &pipeline.ReplyRef{MessageID: "f0", Content: "orig", Sender: sender, SenderID: id}
		return c
	}
	runCases(t, m, []matchCase{
		{"by name", reply("target_user", 0, "agreed"), pipeline.KindReply, "reply"},
		{"by id", reply("renamed", 72805522, "agreed"), pipeline.KindReply, "reply"},
		{"other user", reply("someone", 5, "agreed"), "", ""},
		{"reply wins over mention", reply("TARGET_USER", 0, "@target_user yes"), pipeline.KindReply, "reply"},
		{"reply to other mentioning", reply("someone", 5, "@Target_User look"), pipeline.KindMention, "mention:@Target_User"},
		{"type reply without ref", &pipeline.ChatMessage{Type: "reply", Content: "x", Sender: "a"}, "", ""},
	})

	noID := mustNew(t, Options{Username: "bob"})
	runCases(t, noID, []matchCase{
		{"id zero is unknown", reply("x", 0, "hi"), "", ""},
	})
}

func TestMatch_OwnMessages(t *testing.T) {
	m := mustNew(t, Options{Username: "bob", UserID: 42, Rules: []Rule{{Name: "kw", Keyword: "hello"}}})
	own := chat("@bob hello")
	own.Sender = "BOB"
	ownID := chat("@bob hello")
	ownID.SenderID, ownID.Sender = 42, "renamed"
	selfReply := chat("hello")
	selfReply.Sender = "bob"
	selfReply.ReplyTo = &pipeline.ReplyRef{Sender: "bob", SenderID: 42}
	runCases(t, m, []matchCase{
		{"by name", own, "", ""},
		{"by id", ownID, "", ""},
		{"reply to self", selfReply, "", ""},
		{"nil", nil, "", ""},
	})
}

func TestMatch_IgnoreSenders(t *testing.T) {
	m := mustNew(t, Options{Username: "bob", IgnoreSenders: []string{"*bot", "nightbot", "mod_*_x"}})
	from := func(sender, slug string) *pipeline.ChatMessage {
		c := chat("@bob hi")
		c.Sender, c.SenderSlug = sender, slug
		return c
	}
	runCases(t, m, []matchCase{
		{"suffix wildcard", from("StreamBot", ""), "", ""},
		{"exact", from("Nightbot", ""), "", ""},
		{"middle wildcard", from("MOD_abc_X", ""), "", ""},
		{"by slug", from("Display Name", "fossabot"), "", ""},
		{"not ignored", from("botany", ""), pipeline.KindMention, "mention:@bob"},
		{"middle wildcard miss", from("mod_abc_y", ""), pipeline.KindMention, "mention:@bob"},
	})
}

func TestWildcardFold(t *testing.T) {
	cases := []struct {
		p, s string
		want bool
	}{
		{"*bot", "nightbot", true}, {"*bot", "bot", true}, {"*bot", "botx", false},
		{"a*b*c", "aXbYc", true}, {"a*b*c", "abcabc", true}, {"a*b*c", "acb", false},
		{"*", "", true}, {"**x", "x", true}, {"x", "X", true}, {"x", "", false}, {"", "", true},
	}
	for _, c := range cases {
		if got := wildcardFold(c.p, c.s); got != c.want {
			t.Errorf("wildcardFold(%q, %q) = %v, want %v", c.p, c.s, got, c.want)
		}
	}
}

func TestMatch_KeywordAndRegexRules(t *testing.T) {
	m := mustNew(t, Options{Username: "bob", Rules: []Rule{
		{Name: "giveaway", Keyword: "Giveaway"},
		{Name: "CASE", Keyword: "URGENT", CaseSensitive: true},
		{Name: "café", Keyword: "CAFÉ"},
		{Name: "ticket", Regex: `ticket #\d+`},
		{Name: "Sensitive-re", Regex: `^Hello$`, CaseSensitive: true},
		{Name: "only-a", Keyword: "drop", Channels: []string{"ChanA"}},
		{Name: "not-b", Keyword: "raid", ExcludeChannels: []string{"chanb"}},
	}})
	in := func(channel, content string) *pipeline.ChatMessage {
		c := chat(content)
		c.Channel = channel
		return c
	}
	kw := pipeline.KindKeyword
	runCases(t, m, []matchCase{
		{"keyword insensitive", chat("big GIVEAWAY now"), kw, "giveaway"},
		{"keyword substring", chat("giveaways"), kw, "giveaway"},
		{"keyword sensitive hit", chat("URGENT"), kw, "CASE"},
		{"keyword sensitive miss", chat("urgent"), "", ""},
		{"unicode fold", chat("un café"), kw, "café"},
		{"regex insensitive", chat("TICKET #42"), kw, "ticket"},
		{"regex no digits", chat("ticket #x"), "", ""},
		{"regex sensitive hit", chat("Hello"), kw, "Sensitive-re"},
		{"regex sensitive miss", chat("hello"), "", ""},
		{"channel include hit", in("chana", "drop it"), kw, "only-a"},
		{"channel include miss", in("chanc", "drop it"), "", ""},
		{"channel exclude", in("CHANB", "raid!"), "", ""},
		{"channel exclude other", in("chanc", "raid!"), kw, "not-b"},
		{"mention before rules", chat("@bob giveaway"), pipeline.KindMention, "mention:@bob"},
		{"keyword in emote token", chat("[emote:1:GIVEAWAY]"), kw, "giveaway"},
	})
}

func TestNew_Validation(t *testing.T) {
	cases := []struct {
		name string
		o    Options
		want string // substring of the error
	}{
		{"bad username", Options{Username: "bob smith"}, "username"},
		{"dash in username", Options{Username: "bob-x"}, "username"},
		{"bad alias", Options{Username: "bob", Aliases: []string{"a.b"}}, `alias "a.b"`},
		{"empty alias", Options{Username: "bob", Aliases: []string{"@"}}, "alias"},
		{"long name", Options{Username: strings.Repeat("a", 65)}, "username"},
		{"negative id", Options{UserID: -1}, "user id"},
		{"ignore all", Options{IgnoreSenders: []string{"**"}}, "ignore sender"},
		{"negative cooldown", Options{Cooldown: -1}, "cooldown"},
		{"bad regex names rule", Options{Rules: []Rule{{Name: "tickets", Regex: "a(b"}}}, `rule "tickets": compile regex`},
		{"both", Options{Rules: []Rule{{Name: "x", Keyword: "a", Regex: "b"}}}, `rule "x"`},
		{"neither", Options{Rules: []Rule{{Name: "x"}}}, `rule "x"`},
		{"no name", Options{Rules: []Rule{{Keyword: "a"}}}, "rule #1: missing name"},
		{"duplicate", Options{Rules: []Rule{{Name: "x", Keyword: "a"}, {Name: "x", Keyword: "b"}}}, "duplicate"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := New(c.o)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("New error = %v, want one containing %q", err, c.want)
			}
		})
	}
	if _, err := New(Options{}); err != nil {
		t.Fatalf("New(empty) = %v, want nil", err)
	}
}

func TestContainsFold(t *testing.T) {
	cases := []struct {
		s, sub string
		want   bool
	}{
		{"HELLO world", "hello", true}, {"ab", "abc", false}, {"straße", "STRASSE", false},
		{"\u212Aiss", "kiss", true}, {"ſun", "SUN", true}, {"xÉy", "é", true}, {"", "a", false},
	}
	for _, c := range cases {
		if got := containsFold(c.s, c.sub); got != c.want {
			t.Errorf("containsFold(%q, %q) = %v, want %v", c.s, c.sub, got, c.want)
		}
	}
}
