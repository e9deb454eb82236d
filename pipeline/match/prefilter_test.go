package match

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func TestPrefilter_Frames(t *testing.T) {
	m := mustNew(t, Options{Username: "Target_User", UserID: 72805522, Aliases: []string{"tu2"},
		Rules: []Rule{{Name: "kw", Keyword: "Giveaway"}, {Name: "re", Regex: `ticket\s+#\d+`}}})
	miss := payload(map[string]any{"content": "that was a good one lol, see you tomorrow [emote:37226:KEKW]"})
	forged := jsonValue(map[string]any{"content": `"event":"App\\Events\\ChatMessageEvent"`}, false)
	cases := []struct {
		name string
		raw  string
		want bool
	}{
		{"miss pusher", string(buildFrame(miss, shapePusher)), true},
		{"miss pusher php", string(buildFrame(miss, shapePusherPHP)), true},
		{"miss centrifugo string", string(buildFrame(miss, shapeCentString)), true},
		{"miss centrifugo object", string(buildFrame(miss, shapeCentObject)), true},
		{"miss pusher channel first", string(buildFrame(miss, shapePusherOrder)), true},
		{"miss with trailing newline", string(buildFrame(miss, shapePusher)) + "\r\n", true},
		{"mention", string(pusherFrame(t, map[string]any{"content": "hey @target_user"})), false},
		{"mention upper", string(pusherFrame(t, map[string]any{"content": "HEY @TARGET_USER"})), false},
		{"alias", string(pusherFrame(t, map[string]any{"content": "TU2"})), false},
		{"keyword", string(pusherFrame(t, map[string]any{"content": "GIVEAWAY"})), false},
		{"regex literal", string(pusherFrame(t, map[string]any{"content": "Ticket  #5"})), false},
		{"reply by id", string(pusherFrame(t, map[string]any{"metadata": map[string]any{"original_sender": map[string]any{"id": "72805522", "username": "renamed"}}})), false},
		{"own message still decoded", string(pusherFrame(t, map[string]any{"sender": map[string]any{"id": 72805522, "username": "Target_User"}})), false},
		{"other event", `{"event":"App\\Events\\MessageDeletedEvent","data":"{\"id\":\"x\"}","channel":"chatrooms.1.v2"}`, false},
		{"pusher ping", `{"event":"pusher:ping","data":{}}`, false},
		{"pusher error", `{"event":"pusher:error","data":{"code":4200,"message":"Please reconnect immediately"}}`, false},
		{"subscription", `{"event":"pusher_internal:subscription_succeeded","data":"{}","channel":"chatrooms.1.v2"}`, false},
		{"centrifugo ping", `{}`, false},
		{"centrifugo batch", string(buildFrame(miss, shapeCentString)) + "\n" + `{"id":2,"subscribe":{}}`, false},
		{"centrifugo reply with publications", `{"id":2,"subscribe":{"publications":[{"data":{"event":"App\\Events\\ChatMessageEvent","data":"{}"}}]}}`, false},
		{"centrifugo unsubscribe push", `{"push":{"channel":"chatrooms.1.v2","unsubscribe":{"code":2000}}}`, false},
		{"event named in content, pusher", `{"data":` + string(jsonString(string(forged), false)) + `,"event":"App\\Events\\PinnedMessageCreatedEvent"}`, false},
		{"event named in content, centrifugo", `{"push":{"channel":"c","pub":{"data":{"data":` + string(forged) + `,"event":"App\\Events\\PinnedMessageCreatedEvent"}}}}`, false},
		{"empty", ``, false},
		{"garbage", `not json at all`, false},
		{"v1 chat event", `{"event":"App\\Events\\ChatMessageSentEvent","data":"{}","channel":"chatrooms.1"}`, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := m.Prefilter([]byte(c.raw)); got != c.want {
				t.Fatalf("Prefilter(%s) = %v, want %v", c.raw, got, c.want)
			}
		})
	}
}

func TestPrefilter_FastPathOff(t *testing.T) {
	miss := buildFrame(payload(map[string]any{"content": "plain words"}), shapePusher)
	cases := []struct {
		name  string
		rules []Rule
		off   bool
	}{
		{"no rules", nil, false},
		{"keyword ascii", []Rule{{Name: "r", Keyword: "drops"}}, false},
		{"keyword slash only", []Rule{{Name: "r", Keyword: "/"}}, true},
		{"keyword non-ascii only", []Rule{{Name: "r", Keyword: "éé"}}, true},
		{"keyword fold k and s", []Rule{{Name: "r", Keyword: "ks"}}, true},
		{"keyword sensitive k and s", []Rule{{Name: "r", Keyword: "ks", CaseSensitive: true}}, false},
		{"keyword mixed", []Rule{{Name: "r", Keyword: "café/bar"}}, false},
		{"regex without literal", []Rule{{Name: "r", Regex: `\d{6}`}}, true},
		{"regex optional literal", []Rule{{Name: "r", Regex: `(abc)?x*`}}, true},
		{"regex alternation", []Rule{{Name: "r", Regex: `\b(foo|bar)\b`}}, false},
		{"regex alternation one open", []Rule{{Name: "r", Regex: `foo|\d`}}, true},
		{"regex literal", []Rule{{Name: "r", Regex: `^hello\s+world`}}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := mustNew(t, Options{Username: "bob", Rules: c.rules})
			if got := m.prefilter.off; got != c.off {
				t.Fatalf("fast path off=%v, want %v", got, c.off)
			}
			if got, want := m.Prefilter(miss), !c.off; got != want {
				t.Fatalf("Prefilter(miss)=%v, want %v", got, want)
			}
		})
	}
}

func TestRegexNeedles(t *testing.T) {
	cases := []struct {
		expr string
		want []string // nil: none
	}{
		{`hello`, []string{"hello"}},
		{`(?i)Hello`, []string{"hello"}},
		{`(?i)kiss me`, []string{" me"}},
		{`kiss me`, []string{"kiss me"}},
		{`\bticket #\d+`, []string{"ticket #"}},
		{`(foo|bar)+baz?`, []string{"foo", "bar"}},
		{`a(bcd){2,}`, []string{"bcd"}},
		{`x{0,3}`, nil},
		{`https?://`, []string{"http"}},
		{`[ab]c`, []string{"c"}},
		{`.*`, nil},
		{`é`, nil},
	}
	for _, c := range cases {
		got, ok := regexNeedles(c.expr)
		if ok != (c.want != nil) || !slices.Equal(got, c.want) {
			t.Errorf("regexNeedles(%q) = %q, %v; want %q", c.expr, got, ok, c.want)
		}
	}
}

func TestMinimalNeedles(t *testing.T) {
	got := minimal([]string{"bob", "bobby", "bob", "ann", "xbobx"})
	if want := []string{"bob", "ann"}; !slices.Equal(got, want) {
		t.Fatalf("minimal = %q, want %q", got, want)
	}
}

func TestPrefilter_NoAllocs(t *testing.T) {
	m := mustNew(t, Options{Username: "Target_User", UserID: 72805522, Aliases: []string{"tu2"}, Rules: []Rule{{Name: "kw", Keyword: "giveaway"}}})
	miss := buildFrame(payload(map[string]any{"content": "that was a good one lol"}), shapePusher)
	if n := testing.AllocsPerRun(100, func() { m.Prefilter(miss) }); n != 0 {
		t.Fatalf("allocs=%v, want 0", n)
	}
}

// TestPrefilter_NeverDropsAMatch is the fast path's safety property: over
// random messages in every frame shape, a frame Prefilter drops never holds
// a message Match would keep.
func TestPrefilter_NeverDropsAMatch(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	configs := []Options{
		{Username: "bob", UserID: 1234, Aliases: []string{"B0b_"}},
		{Username: "Kevin", BareNames: true, Rules: []Rule{{Name: "kw", Keyword: "Kissing"}, {Name: "ps", Keyword: "zap/zoom", CaseSensitive: true}}},
		{Username: "x_y", Rules: []Rule{{Name: "re", Regex: `(?:gg|wp)\s+ez`}, {Name: "cafe", Keyword: "café <3x"}, {Name: "heart", Keyword: "é <3y"}}},
	}
	for ci, o := range configs {
		m := mustNew(t, o)
		dropped, kept := 0, 0
		for range 4000 {
			p := randomPayload(rng, o)
			raw := buildFrame(p, frameShape(rng.IntN(int(numShapes))))
			msg, err := decodeFrame(raw)
			if err != nil {
				t.Fatalf("decode own frame %s: %v", raw, err)
			}
			kind, rule := m.classify(msg)
			if kind != "" {
				kept++
			}
			if m.Prefilter(raw) {
				dropped++
				if kind != "" {
					t.Fatalf("config %d: Prefilter dropped %s, which matches as %s (%s)", ci, raw, kind, rule)
				}
			}
		}
		if dropped == 0 || kept == 0 {
			t.Fatalf("config %d: dropped=%d kept=%d; the generator must produce both", ci, dropped, kept)
		}
	}
}

// randomPayload makes a chat payload that often, but not always, touches the
// options' names, id and rules, in random case and among awkward neighbours.
func randomPayload(rng *rand.Rand, o Options) map[string]any {
	words := []string{"hi", "lol", "@", "[emote:37226:KEKW]", "é", "🎉", "/", `"`, `\`, "<3", "_", " ", "\n", "ſ", "\u212A", "ss", "\u212Aissing", "caf", "café", "CAFÉ", "gg", "wp", "ez", "1234", "x_y"}
	words = append(append(words, o.Username), o.Aliases...)
	for _, r := range o.Rules {
		words = append(words, r.Keyword)
	}
	var b strings.Builder
	for range rng.IntN(8) {
		w := words[rng.IntN(len(words))]
		if rng.IntN(2) == 0 {
			w = strings.ToUpper(w)
		}
		b.WriteString(w)
		if rng.IntN(2) == 0 {
			b.WriteByte(' ')
		}
	}
	fields := map[string]any{"content": b.String()}
	if rng.IntN(3) == 0 {
		sender := "someone"
		if rng.IntN(2) == 0 && o.Username != "" {
			sender = strings.ToUpper(o.Username)
		}
		var id any = rng.Int64N(3000)
		if rng.IntN(2) == 0 {
			id = "1234"
		}
		fields["type"] = "reply"
		fields["metadata"] = map[string]any{"original_sender": map[string]any{"id": id, "username": sender},
			"original_message": map[string]any{"id": "f0", "content": "orig"}}
	}
	return payload(fields)
}
