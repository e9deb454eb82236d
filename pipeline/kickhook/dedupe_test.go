package kickhook_test

import (
	"testing"
	"time"

	"kickwatch/pipeline"
	"kickwatch/pipeline/kickhook"
)

func TestDedupe_AcrossSources(t *testing.T) {
	t0 := time.Date(2025, 8, 20, 7, 7, 44, 0, time.UTC)
	base := pipeline.ChatMessage{ID: "uuid-1", Channel: "some-streamer", Sender: "Viewer_One", Content: "hey @Target_User", CreatedAt: t0}
	with := func(f func(*pipeline.ChatMessage)) *pipeline.ChatMessage {
		m := base
		f(&m)
		return &m
	}
	tests := []struct {
		name   string
		msg    *pipeline.ChatMessage
		source string
		at     time.Time
		want   bool
	}{
		{"webhook copy, other id", with(func(m *pipeline.ChatMessage) {
			m.ID = "webhook-9"
			m.Sender = "viewer_one"
			m.Channel = "Some-Streamer"
		}), "webhook", t0.Add(time.Minute), true},
		{"webhook copy, same id", with(func(m *pipeline.ChatMessage) {}), "webhook", t0.Add(time.Minute), true},
		{"webhook copy, rounding", with(func(m *pipeline.ChatMessage) { m.ID = "w2"; m.CreatedAt = t0.Add(time.Second) }), "webhook", t0.Add(time.Hour), true},
		{"same text later", with(func(m *pipeline.ChatMessage) { m.ID = "w3"; m.CreatedAt = t0.Add(10 * time.Second) }), "webhook", t0.Add(time.Minute), false},
		{"same text, same source", with(func(m *pipeline.ChatMessage) { m.ID = "uuid-2" }), "pusher", t0.Add(time.Second), false},
		{"other sender", with(func(m *pipeline.ChatMessage) { m.ID = "w4"; m.Sender = "Viewer_Two" }), "webhook", t0.Add(time.Minute), false},
		{"other channel", with(func(m *pipeline.ChatMessage) { m.ID = "w5"; m.Channel = "elsewhere" }), "webhook", t0.Add(time.Minute), false},
		{"other content", with(func(m *pipeline.ChatMessage) { m.ID = "w6"; m.Content = "hey @target_user" }), "webhook", t0.Add(time.Minute), false},
		{"anonymous", with(func(m *pipeline.ChatMessage) { m.ID = "w7"; m.Sender = "" }), "webhook", t0.Add(time.Minute), false},
		{"no created_at", with(func(m *pipeline.ChatMessage) { m.ID = "w8"; m.CreatedAt = time.Time{} }), "webhook", t0.Add(time.Minute), false},
		{"too late", with(func(m *pipeline.ChatMessage) { m.ID = "w9" }), "webhook", t0.Add(7 * time.Hour), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := kickhook.NewDedupe(kickhook.DedupeOptions{})
			if d.Seen(&base, "pusher", t0) {
				t.Fatal("first copy reported as seen")
			}
			if got := d.Seen(tt.msg, tt.source, tt.at); got != tt.want {
				t.Errorf("Seen=%v, want %v", got, tt.want)
			}
		})
	}
}

// The webhook may come first; the socket copy is then the duplicate.
func TestDedupe_WebhookFirstAndBounded(t *testing.T) {
	t0 := time.Date(2025, 8, 20, 7, 7, 44, 0, time.UTC)
	d := kickhook.NewDedupe(kickhook.DedupeOptions{Size: 2})
	a := &pipeline.ChatMessage{ID: "w1", Channel: "c", Sender: "s", Content: "a", CreatedAt: t0}
	if d.Seen(a, "webhook", t0) {
		t.Fatal("first copy reported as seen")
	}
	// Two more messages push a out of a cache of two.
	for _, c := range []string{"b", "c"} {
		d.Seen(&pipeline.ChatMessage{ID: "w-" + c, Channel: "c", Sender: "s", Content: c, CreatedAt: t0}, "webhook", t0)
	}
	socket := &pipeline.ChatMessage{ID: "u1", Channel: "c", Sender: "s", Content: "a", CreatedAt: t0}
	if d.Seen(socket, "pusher", t0) {
		t.Error("evicted message still deduplicated")
	}
	socketC := &pipeline.ChatMessage{ID: "u3", Channel: "c", Sender: "s", Content: "c", CreatedAt: t0}
	if !d.Seen(socketC, "centrifugo", t0) {
		t.Error("socket copy of a webhook message not deduplicated")
	}
}
