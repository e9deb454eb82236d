package kick

import (
	"strings"
	"testing"
	"time"

	"kickwatch/pipeline"
)

func TestIsChatMessageEvent(t *testing.T) {
	for name, want := range map[string]bool{
		`App\Events\ChatMessageEvent`:     true,
		`ChatMessageEvent`:                true,
		`App\Events\ChatMessageSentEvent`: false,
		`App\Events\UserBannedEvent`:      false,
		`chatmessageevent`:                false,
		``:                                false,
	} {
		if got := IsChatMessageEvent(name); got != want {
			t.Errorf("IsChatMessageEvent(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestParseChatMessage(t *testing.T) {
	created := time.Date(2025, 8, 20, 7, 7, 44, 0, time.UTC)
	tests := []struct {
		name string
		data string
		want pipeline.ChatMessage
	}{
		{
			name: "2025 message with message_ref, emote and escapes",
			data: `{"id":"0b6a1f3e","chatroom_id":2346570,"content":"hey @Target_User [emote:37226:KEKW] https:\/\/x \ud83c\udf89","type":"message","created_at":"2025-08-20T07:07:44+00:00","sender":{"id":4815162,"username":"Viewer_One","slug":"viewer-one","identity":{"color":"#DEB2FF","badges":[{"type":"subscriber","text":"Subscriber","count":3}]}},"metadata":{"message_ref":"1755673663786"}}`,
			want: pipeline.ChatMessage{ID: "0b6a1f3e", ChatroomID: 2346570, Type: "message", Content: "hey @Target_User [emote:37226:KEKW] https://x 🎉", SenderID: 4815162, Sender: "Viewer_One", SenderSlug: "viewer-one", CreatedAt: created},
		},
		{
			name: "2025 reply, numeric original_sender.id",
			data: `{"id":"7e1d","chatroom_id":2346570,"content":"agreed","type":"reply","created_at":"2025-08-20T07:07:44+00:00","sender":{"id":2408714,"username":"ModPerson","slug":"modperson"},"metadata":{"original_sender":{"id":72805522,"username":"Target_User"},"original_message":{"id":"f08e","content":"did you see that [emote:37225:KEKLEO]"},"message_ref":"1755673542051"}}`,
			want: pipeline.ChatMessage{ID: "7e1d", ChatroomID: 2346570, Type: "reply", Content: "agreed", SenderID: 2408714, Sender: "ModPerson", SenderSlug: "modperson", CreatedAt: created,
				ReplyTo: &pipeline.ReplyRef{MessageID: "f08e", Content: "did you see that [emote:37225:KEKLEO]", SenderID: 72805522, Sender: "Target_User"}},
		},
		{
			name: "2023 reply, string original_sender.id, no message_ref",
			data: `{"id":"r23","chatroom_id":668,"content":"Test 7","type":"reply","created_at":"2023-06-28T23:11:45+00:00","sender":{"id":"9899","username":"Vixie_Vu","slug":"vixie_vu"},"metadata":{"original_sender":{"id":"1649044","username":"Someone"},"original_message":{"id":"o1","content":"@kasperh32 hi"}}}`,
			want: pipeline.ChatMessage{ID: "r23", ChatroomID: 668, Type: "reply", Content: "Test 7", SenderID: 9899, Sender: "Vixie_Vu", SenderSlug: "vixie_vu", CreatedAt: time.Date(2023, 6, 28, 23, 11, 45, 0, time.UTC),
				ReplyTo: &pipeline.ReplyRef{MessageID: "o1", Content: "@kasperh32 hi", SenderID: 1649044, Sender: "Someone"}},
		},
		{
			name: "celebration",
			data: `{"id":"c1","chatroom_id":1,"content":"\ud83c\udf89","type":"celebration","created_at":"2025-07-14T17:55:52+00:00","sender":{"id":5,"username":"Sub"},"metadata":{"celebration":{"id":"chceleb_01K","type":"subscription_renewed","total_months":2,"created_at":"2025-07-14T17:55:52.83787Z"}}}`,
			want: pipeline.ChatMessage{ID: "c1", ChatroomID: 1, Type: "celebration", Content: "🎉", SenderID: 5, Sender: "Sub", CreatedAt: time.Date(2025, 7, 14, 17, 55, 52, 0, time.UTC)},
		},
		{
			name: "bot message without metadata or chatroom_id, offset time",
			data: `{"id":"b1","content":"hi","type":"message","created_at":"2025-08-21T09:00:00+02:00","sender":{"id":9,"username":"BotRix","slug":"botrix"},"metadata":null}`,
			want: pipeline.ChatMessage{ID: "b1", Type: "message", Content: "hi", SenderID: 9, Sender: "BotRix", SenderSlug: "botrix", CreatedAt: time.Date(2025, 8, 21, 7, 0, 0, 0, time.UTC)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseChatMessage([]byte(tt.data))
			if err != nil {
				t.Fatalf("ParseChatMessage: %v", err)
			}
			if !got.CreatedAt.Equal(tt.want.CreatedAt) {
				t.Errorf("CreatedAt = %v, want %v", got.CreatedAt, tt.want.CreatedAt)
			}
			got.CreatedAt, tt.want.CreatedAt = time.Time{}, time.Time{}
			gr, wr := got.ReplyTo, tt.want.ReplyTo
			got.ReplyTo, tt.want.ReplyTo = nil, nil
			if got != tt.want {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
			if (gr == nil) != (wr == nil) || (gr != nil && *gr != *wr) {
				t.Errorf("ReplyTo = %+v, want %+v", gr, wr)
			}
		})
	}
}

func TestParseChatMessage_Errors(t *testing.T) {
	const sender = `"sender":{"id":1,"username":"u"}`
	tests := []struct{ name, data, want string }{
		{"not an object", `"text"`, "not a JSON object"},
		{"array", `[1]`, "not a JSON object"},
		{"bad json", `{"id":`, "chat message"},
		{"missing id", `{"content":"x",` + sender + `}`, "missing id"},
		{"numeric id", `{"id":5,` + sender + `}`, "id"},
		{"chatroom_id string word", `{"id":"a","chatroom_id":"abc",` + sender + `}`, "chatroom_id"},
		{"chatroom_id float", `{"id":"a","chatroom_id":1.5,` + sender + `}`, "chatroom_id"},
		{"content number", `{"id":"a","content":5,` + sender + `}`, "content"},
		{"bad created_at", `{"id":"a","created_at":"yesterday",` + sender + `}`, "created_at"},
		{"created_at without offset", `{"id":"a","created_at":"2025-08-20T07:07:44",` + sender + `}`, "created_at"},
		{"missing sender", `{"id":"a"}`, "missing sender"},
		{"missing username", `{"id":"a","sender":{"id":1}}`, "sender.username"},
		{"sender id bool", `{"id":"a","sender":{"id":true,"username":"u"}}`, "id"},
		{"sender id float", `{"id":"a","sender":{"id":1.5,"username":"u"}}`, "id"},
		{"original_sender id word", `{"id":"a",` + sender + `,"metadata":{"original_sender":{"id":"bob","username":"x"}}}`, "id"},
		{"original_message wrong type", `{"id":"a",` + sender + `,"metadata":{"original_message":"x"}}`, "original_message"},
		{"too big", `{"id":"a","content":"` + strings.Repeat("x", MaxEventBytes) + `"}`, "limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseChatMessage([]byte(tt.data))
			if err == nil {
				t.Fatalf("ParseChatMessage: nil error, want one containing %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

// TestParseChatMessage_RecordedFrames parses every chat message in testdata.
func TestParseChatMessage_RecordedFrames(t *testing.T) {
	var d Decoder
	n := 0
	for _, raw := range recordedFrames(t) {
		f, err := d.Decode(raw)
		if err != nil {
			t.Fatalf("Decode: %v", err)
		}
		if !IsChatMessageEvent(f.Event) {
			continue
		}
		msg, err := ParseChatMessage(f.Data)
		if err != nil {
			t.Fatalf("ParseChatMessage(%s): %v", f.Data, err)
		}
		if id, _ := ChatroomID(f.Channel); msg.ChatroomID != id {
			t.Errorf("message %s: chatroom %d, channel says %d", msg.ID, msg.ChatroomID, id)
		}
		if msg.Type == "reply" && (msg.ReplyTo == nil || msg.ReplyTo.Sender == "" || msg.ReplyTo.SenderID == 0) {
			t.Errorf("reply %s: ReplyTo = %+v, want sender name and id", msg.ID, msg.ReplyTo)
		}
		n++
	}
	if n < 60 {
		t.Fatalf("parsed %d chat messages, want ≥ 60 across testdata", n)
	}
}

func FuzzParseChatMessage(f *testing.F) {
	var d Decoder
	for _, raw := range recordedFrames(f) {
		if fr, err := d.Decode(raw); err == nil && fr.Data != nil {
			f.Add(append([]byte(nil), fr.Data...))
		}
	}
	f.Add([]byte(`{"id":"a","sender":{"id":"12","username":"u"},"metadata":{"original_sender":{"id":"3"}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		msg, err := ParseChatMessage(data)
		if err != nil {
			return
		}
		if msg.ID == "" || msg.Sender == "" {
			t.Fatalf("accepted message without id or sender: %+v", msg)
		}
		if msg.SenderID < 0 || msg.ChatroomID < 0 {
			t.Fatalf("negative id: %+v", msg)
		}
	})
}

func BenchmarkParseChatMessage(b *testing.B) {
	data := []byte(`{"id":"0b6a1f3e-5c2d-4b8e-9a51-7d2c9e4f1a20","chatroom_id":2346570,"content":"hey @Target_User look at this [emote:37226:KEKW]","type":"message","created_at":"2025-08-20T07:07:44+00:00","sender":{"id":4815162,"username":"Viewer_One","slug":"viewer-one","identity":{"color":"#DEB2FF","badges":[{"type":"subscriber","text":"Subscriber","count":3}]}},"metadata":{"message_ref":"1755673663786"}}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseChatMessage(data); err != nil {
			b.Fatal(err)
		}
	}
}
