package match

import (
	"testing"

	"kickwatch/pipeline"
)

// FuzzMatch builds a matcher from fuzzed rules and a frame from fuzzed
// message fields (double-encoded, as Pusher and Centrifugo send it), and
// checks that nothing panics and that Prefilter never drops a frame whose
// decoded message Match keeps.
func FuzzMatch(f *testing.F) {
	f.Add("hey @Target_User look [emote:37226:KEKW]", "Viewer_One", "", int64(0), "giveaway", `ticket #\d+`, uint8(0), false)
	f.Add("agreed", "ModPerson", "target_user", int64(72805522), "", "", uint8(1), false)
	f.Add("\u212Aissing café/bar", "x", "", int64(0), "Kissing", "(?i)caf", uint8(2), true)
	f.Add("email@target_user target_user_ [emote:1:target_user]", "bot", "", int64(0), "é/", `(?:gg|wp)\s+ez`, uint8(3), true)
	f.Add("<3 & \"quotes\" \\ \n", "Target_User", "x", int64(1), "<3", "", uint8(4), false)
	f.Fuzz(func(t *testing.T, content, sender, replySender string, replyID int64, keyword, regex string, shape uint8, bare bool) {
		o := Options{Username: "Target_User", UserID: 72805522, Aliases: []string{"tu2"}, BareNames: bare}
		if keyword != "" {
			o.Rules = append(o.Rules, Rule{Name: "kw", Keyword: keyword, CaseSensitive: shape&8 != 0})
		}
		if regex != "" {
			o.Rules = append(o.Rules, Rule{Name: "re", Regex: regex, CaseSensitive: shape&16 != 0})
		}
		m, err := New(o)
		if err != nil {
			o.Rules = nil
			m = mustNew(t, o)
		}

		direct := &pipeline.ChatMessage{Content: content, Sender: sender, SenderSlug: sender, Channel: sender}
		if replySender != "" || replyID != 0 {
			direct.ReplyTo = &pipeline.ReplyRef{Sender: replySender, SenderID: replyID}
		}
		m.Match(direct)
		m.Prefilter([]byte(content))

		fields := map[string]any{"content": content, "sender": map[string]any{"id": 5, "username": sender, "slug": sender}}
		if direct.ReplyTo != nil {
			var id any = replyID
			if shape&32 != 0 {
				id = jsonNumberString(replyID)
			}
			fields["type"] = "reply"
			fields["metadata"] = map[string]any{"original_sender": map[string]any{"id": id, "username": replySender}}
		}
		raw := buildFrame(payload(fields), frameShape(int(shape&7)%int(numShapes)))
		msg, err := decodeFrame(raw)
		if err != nil {
			t.Fatalf("decode own frame %s: %v", raw, err)
		}
		if kind, rule := m.classify(msg); kind != "" && m.Prefilter(raw) {
			t.Fatalf("Prefilter dropped %s, which matches as %s (%s)", raw, kind, rule)
		}
	})
}

func jsonNumberString(n int64) string {
	return string(jsonValue(n, false))
}
