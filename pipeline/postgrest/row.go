package postgrest

import (
	"strings"
	"time"

	"kickwatch/pipeline"
)

// Platform is the value of the platform column: the table is shared with the
// older bot, which wrote other platforms too.
const Platform = "kick"

// Row is one kick_notifications row as sent to PostgREST. Every field is
// always present (nulls included): PostgREST refuses a bulk insert whose
// objects do not all have the same keys (400 PGRST102).
type Row struct {
	MessageID       string  `json:"message_id"`
	Platform        string  `json:"platform"`
	Type            string  `json:"type"`
	Channel         string  `json:"channel"`
	Username        string  `json:"username"`
	Message         string  `json:"message"`
	Timestamp       string  `json:"timestamp"`
	URL             string  `json:"url"`
	OriginalMessage *string `json:"original_message"`
	ChatroomID      int64   `json:"chatroom_id"`
	SenderID        *int64  `json:"sender_id"`
	ReceivedAt      *string `json:"received_at"`
}

// NewRow is the row for m. now stands in for a missing message time, which
// the table requires.
func NewRow(m *pipeline.Mention, now time.Time) Row {
	kind := string(m.Kind)
	if kind == "" {
		kind = string(pipeline.KindMention)
	}
	ts := m.CreatedAt
	if ts.IsZero() {
		ts = m.ReceivedAt
	}
	if ts.IsZero() {
		ts = now
	}
	r := Row{
		MessageID:  text(m.MessageID),
		Platform:   Platform,
		Type:       kind,
		Channel:    text(m.Channel),
		Username:   text(m.Sender),
		Message:    text(m.Content),
		Timestamp:  ts.UTC().Format(time.RFC3339Nano),
		URL:        text(m.ChannelURL()),
		ChatroomID: m.ChatroomID,
	}
	if m.Kind == pipeline.KindReply || m.ReplyToMessage != "" {
		orig := text(m.ReplyToMessage)
		r.OriginalMessage = &orig
	}
	if m.SenderID != 0 {
		id := m.SenderID
		r.SenderID = &id
	}
	if !m.ReceivedAt.IsZero() {
		at := m.ReceivedAt.UTC().Format(time.RFC3339Nano)
		r.ReceivedAt = &at
	}
	return r
}

// text makes chat text storable: PostgreSQL text cannot hold NUL (the insert
// would fail with 22P05), and invalid UTF-8 is replaced rather than refused.
func text(s string) string {
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", "")
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}
