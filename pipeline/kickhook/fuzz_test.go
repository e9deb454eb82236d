package kickhook_test

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"kickwatch/pipeline/kickhook"
	"kickwatch/pipeline/kickhook/kickhookfake"
)

func FuzzParseChatMessageSent(f *testing.F) {
	for _, name := range bodyFiles(f) {
		f.Add(readFile(f, name))
	}
	f.Add(readFile(f, filepath.Join("testdata", "vector", "body.json")))
	f.Add([]byte(`{"message_id":"a","sender":{"user_id":"12"},"replies_to":{"sender":{"is_anonymous":true}}}`))
	f.Add([]byte(`{"message_id":"a","sender":{},"broadcaster":{"user_id":1e3}}`))
	f.Add([]byte(`{"message_id":"\ud800","sender":null}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		msg, err := kickhook.ParseChatMessageSent(body)
		if err != nil {
			if msg != nil {
				t.Fatal("message and error")
			}
			return
		}
		if strings.TrimSpace(msg.ID) == "" || len(msg.ID) > 256 {
			t.Fatalf("accepted id %q", msg.ID)
		}
		switch {
		case msg.Type == "reply" && msg.ReplyTo == nil, msg.Type == "message" && msg.ReplyTo != nil:
			t.Fatalf("type %q with reply %v", msg.Type, msg.ReplyTo)
		case msg.Type != "reply" && msg.Type != "message":
			t.Fatalf("type %q", msg.Type)
		}
		if msg.SenderID < 0 || msg.ChatroomID != 0 {
			t.Fatalf("ids sender=%d chatroom=%d", msg.SenderID, msg.ChatroomID)
		}
		if msg.Channel != strings.ToLower(msg.Channel) {
			t.Fatalf("channel %q not lowercase", msg.Channel)
		}
		if !utf8.ValidString(msg.Content) && utf8.Valid(body) {
			t.Fatalf("invalid UTF-8 content from a valid body")
		}
	})
}

// Whatever arrives unsigned, the receiver answers without panicking and
// hands nothing to the pipeline.
func FuzzReceiver(f *testing.F) {
	key, err := kickhookfake.TestKey()
	if err != nil {
		f.Fatal(err)
	}
	body := readFile(f, filepath.Join("testdata", "bodies", "mention.json"))
	sig, err := kickhookfake.Sign(key, "01JQR5KV0QC94HMETWYNBWRW4Z", now.Format(time.RFC3339), body)
	if err != nil {
		f.Fatal(err)
	}
	ts := now.Format(time.RFC3339)
	f.Add("01JQR5KV0QC94HMETWYNBWRW4Z", ts, sig, "chat.message.sent", "application/json", body)
	f.Add("01JQR5KV0QC94HMETWYNBWRW4Z", ts, sig, "chat.message.sent", "application/json", body[:len(body)-2])
	f.Add("", "", "", "", "", []byte(nil))
	f.Add("x", "2025-08-20T07:08:00Z", "AAAA", "chat.message.sent", "application/json; charset=utf-8", []byte(`{}`))
	f.Fuzz(func(t *testing.T, id, ts, sig, typ, ct string, body []byte) {
		sub := &submitter{matched: true}
		recv, err := kickhook.NewReceiver(kickhook.ReceiverOptions{
			PublicKey: &key.PublicKey, Submit: sub.submit, MaxBodyBytes: 4 << 10,
			Now: func() time.Time { return now },
		})
		if err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequest(http.MethodPost, "/kick/webhook", strings.NewReader(string(body)))
		for k, v := range map[string]string{kickhook.HeaderMessageID: id, kickhook.HeaderTimestamp: ts,
			kickhook.HeaderSignature: sig, kickhook.HeaderEventType: typ, "Content-Type": ct} {
			if v != "" && validHeader(v) {
				req.Header.Set(k, v)
			}
		}
		rec := httptest.NewRecorder()
		recv.ServeHTTP(rec, req)
		if rec.Code == http.StatusOK && sub.count() > 0 {
			// Only a valid signature gets here; a fuzzer cannot forge one.
			if kickhook.Verify(&key.PublicKey, id, ts, body, sig) != nil {
				t.Fatalf("submitted without a valid signature")
			}
		}
		if sub.count() > 0 && rec.Code != http.StatusOK {
			t.Fatalf("submitted but answered %d", rec.Code)
		}
	})
}

func validHeader(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}
