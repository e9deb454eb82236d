package kick

import (
	"strings"
	"testing"

	"kickwatch/pipeline"
	"kickwatch/pipeline/kick/kickfake"
)

// TestDemoScriptThroughTransport plays the shipped demo chat through the fake
// and the transport, as `make run` does.
func TestDemoScriptThroughTransport(t *testing.T) {
	e := setup(t, kickfake.Options{}, nil)
	sc, err := kickfake.LoadScriptFile("../../testdata/demo/chat.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	e.tr.SetChannels([]pipeline.Channel{{Slug: "demo", ChatroomID: 1000}})
	e.run(t)
	done := make(chan error, 1)
	go func() {
		done <- e.fake.Play(t.Context(), sc, kickfake.PlayOptions{Refresh: true, After: newWaitRecorder().After})
	}()
	var chats, forDemoUser int
	for range len(sc.Frames) {
		ev := recv(t, e.h.events, "demo event")
		if ev.ChatroomID != 1000 {
			t.Fatalf("chatroom = %d, want 1000", ev.ChatroomID)
		}
		if !IsChatMessageEvent(ev.Name) {
			continue
		}
		msg, err := ParseChatMessage(ev.Data)
		if err != nil {
			t.Fatalf("ParseChatMessage: %v", err)
		}
		chats++
		if msg.Sender == "kickwatch_demo" {
			continue
		}
		if strings.Contains(strings.ToLower(msg.Content), "@kickwatch_demo") || (msg.ReplyTo != nil && msg.ReplyTo.Sender == "kickwatch_demo") {
			forDemoUser++
		}
	}
	if err := <-done; err != nil {
		t.Fatalf("Play: %v", err)
	}
	if chats < 40 || forDemoUser < 5 {
		t.Fatalf("chats = %d, addressed to kickwatch_demo = %d; want ≥ 40 and ≥ 5", chats, forDemoUser)
	}
}
