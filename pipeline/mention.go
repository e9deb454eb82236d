// Package pipeline owns kickwatch's domain: chat messages read from Kick, the
// mentions matched in them, and the small interfaces that sources, the matcher,
// the outbox and the sinks use to talk to each other.
package pipeline

import (
	"encoding/json"
	"fmt"
	"time"
)

// Kind says why a chat message was kept.
type Kind string

// The kinds of match.
const (
	KindMention Kind = "mention" // the message names the user (@name, an alias, or a bare name)
	KindReply   Kind = "reply"   // the message replies to one of the user's messages
	KindKeyword Kind = "keyword" // a keyword or regex rule matched
)

// ChatMessage is one chat message as read from Kick, whatever the source
// (Pusher, Centrifugo, the official webhook, a replayed file).
type ChatMessage struct {
	ID         string    // Kick message id (a UUID)
	ChatroomID int64     // chatroom the message was sent in
	Channel    string    // channel slug; filled by the source from its subscription map
	Type       string    // "message", "reply", "celebration", …
	Content    string    // raw content, emote tokens included
	SenderID   int64     // 0 when unknown (anonymous webhook senders)
	Sender     string    // sender username, display casing
	SenderSlug string    // sender slug (lowercase URL form), may be empty
	CreatedAt  time.Time // when Kick says the message was sent
	ReplyTo    *ReplyRef // set for replies
}

// ReplyRef is the message a reply answers.
type ReplyRef struct {
	MessageID string
	Content   string
	SenderID  int64 // 0 when unknown
	Sender    string
}

// Mention is a matched chat message on its way to the sinks. It is what the
// outbox stores (as JSON) and what every sink renders.
type Mention struct {
	MessageID      string    `json:"message_id"`
	ChatroomID     int64     `json:"chatroom_id"`
	Channel        string    `json:"channel"`
	SenderID       int64     `json:"sender_id,omitempty"`
	Sender         string    `json:"sender"`
	Content        string    `json:"content"`
	Kind           Kind      `json:"kind"`
	Rule           string    `json:"rule,omitempty"`
	ReplyToSender  string    `json:"reply_to_sender,omitempty"`
	ReplyToMessage string    `json:"reply_to_message,omitempty"`
	ReplyToID      string    `json:"reply_to_id,omitempty"`
	CreatedAt      time.Time `json:"created_at"`
	ReceivedAt     time.Time `json:"received_at"`
	Source         string    `json:"source,omitempty"` // pusher, centrifugo, webhook, replay, demo, test
}

// NewMention builds the mention for msg matched as kind by rule.
func NewMention(msg *ChatMessage, kind Kind, rule string, received time.Time, source string) Mention {
	m := Mention{
		MessageID:  msg.ID,
		ChatroomID: msg.ChatroomID,
		Channel:    msg.Channel,
		SenderID:   msg.SenderID,
		Sender:     msg.Sender,
		Content:    msg.Content,
		Kind:       kind,
		Rule:       rule,
		CreatedAt:  msg.CreatedAt.UTC(),
		ReceivedAt: received.UTC(),
		Source:     source,
	}
	if msg.ReplyTo != nil {
		m.ReplyToSender = msg.ReplyTo.Sender
		m.ReplyToMessage = msg.ReplyTo.Content
		m.ReplyToID = msg.ReplyTo.MessageID
	}
	return m
}

// ChannelURL is the public page of the mention's channel.
func (m *Mention) ChannelURL() string { return "https://kick.com/" + m.Channel }

// EncodeMention is the outbox payload of m.
func EncodeMention(m *Mention) ([]byte, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode mention: %w", err)
	}
	return b, nil
}

// DecodeMention reads an outbox payload.
func DecodeMention(b []byte) (Mention, error) {
	var m Mention
	if err := json.Unmarshal(b, &m); err != nil {
		return Mention{}, fmt.Errorf("decode mention: %w", err)
	}
	return m, nil
}
