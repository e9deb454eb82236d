package kickhook_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"kickwatch/pipeline"
	"kickwatch/pipeline/kickhook"
	"kickwatch/pipeline/match"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func bodyFiles(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "bodies", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden bodies: %v", err)
	}
	return files
}

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseChatMessageSent_Golden(t *testing.T) {
	for _, in := range bodyFiles(t) {
		t.Run(filepath.Base(in), func(t *testing.T) {
			msg, err := kickhook.ParseChatMessageSent(readFile(t, in))
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			got, err := json.MarshalIndent(msg, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			golden := strings.TrimSuffix(in, ".json") + ".golden"
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if want := readFile(t, golden); !bytes.Equal(got, want) {
				t.Errorf("parsed %s:\n%s\nwant (%s):\n%s", in, got, golden, want)
			}
		})
	}
}

// The golden bodies, run through the real matcher, match as the socket's
// messages would: the reply is found from replies_to.sender, the anonymous
// sender's mention is kept.
func TestParseChatMessageSent_Matcher(t *testing.T) {
	m, err := match.New(match.Options{Username: "Target_User", UserID: 72805522})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		file string
		want pipeline.Kind
	}{
		{"mention.json", pipeline.KindMention},
		{"reply_to_user.json", pipeline.KindReply},
		{"anonymous_mention.json", pipeline.KindMention},
		{"reply_to_anonymous.json", ""},
		{"kicklib_reply.json", ""},
		{"kicklib_anonymous.json", ""},
	}
	for _, tt := range tests {
		msg, err := kickhook.ParseChatMessageSent(readFile(t, filepath.Join("testdata", "bodies", tt.file)))
		if err != nil {
			t.Fatalf("%s: %v", tt.file, err)
		}
		if got := m.Evaluate(msg).Kind; got != tt.want {
			t.Errorf("%s: kind=%q, want %q", tt.file, got, tt.want)
		}
	}
}

func TestParseChatMessageSent_Errors(t *testing.T) {
	tests := []struct {
		name, body, want string
	}{
		{"empty", ``, "not a JSON object"},
		{"array", `[1]`, "not a JSON object"},
		{"string", `"x"`, "not a JSON object"},
		{"truncated", `{"message_id":"a"`, "chat.message.sent"},
		{"no id", `{"sender":{"is_anonymous":true},"content":"x"}`, "missing message_id"},
		{"blank id", `{"message_id":"  ","sender":{"is_anonymous":true}}`, "missing message_id"},
		{"id number", `{"message_id":5,"sender":{"is_anonymous":true}}`, "message_id"},
		{"no sender", `{"message_id":"a","content":"x"}`, "missing sender"},
		{"sender string", `{"message_id":"a","sender":"bob"}`, "sender"},
		{"content number", `{"message_id":"a","sender":{"is_anonymous":true},"content":5}`, "content"},
		{"bad user_id", `{"message_id":"a","sender":{"user_id":"x1"}}`, "not a non-negative integer"},
		{"negative user_id", `{"message_id":"a","sender":{"user_id":-4}}`, "not a non-negative integer"},
		{"bad created_at", `{"message_id":"a","sender":{"is_anonymous":true},"created_at":"yesterday"}`, "created_at"},
		{"replies_to array", `{"message_id":"a","sender":{"is_anonymous":true},"replies_to":[]}`, "replies_to"},
		{"long id", `{"message_id":"` + strings.Repeat("a", 300) + `","sender":{"is_anonymous":true}}`, "over 256"},
		{"oversized", `{"message_id":"a","content":"` + strings.Repeat("x", kickhook.MaxChatBodyBytes) + `"}`, "limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg, err := kickhook.ParseChatMessageSent([]byte(tt.body))
			if err == nil {
				t.Fatalf("no error, got %+v", msg)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

// Fields the parser does not use may change shape without costing a message.
func TestParseChatMessageSent_TolerantOfUnusedFields(t *testing.T) {
	body := `{"message_id":"a","sender":{"is_anonymous":false,"user_id":1,"username":"x","identity":"odd","is_verified":"yes"},
		"broadcaster":{"user_id":7},"emotes":{"weird":true},"content":"hi","new_field":[1,2]}`
	msg, err := kickhook.ParseChatMessageSent([]byte(body))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	if got, want := msg.Channel, "broadcaster-7"; got != want {
		t.Errorf("channel=%q, want %q", got, want)
	}
	if got, want := msg.Type, "message"; got != want {
		t.Errorf("type=%q, want %q", got, want)
	}
}
