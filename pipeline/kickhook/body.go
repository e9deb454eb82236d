package kickhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"kickwatch/pipeline"
	"kickwatch/pipeline/kick"
)

// MaxChatBodyBytes bounds the body ParseChatMessageSent accepts. A real
// chat.message.sent body is about 1 KiB; the receiver's own MaxBodyBytes is
// normally much smaller.
const MaxChatBodyBytes = 256 << 10

// ErrNotObject is returned by ParseChatMessageSent for a body that is not a
// JSON object.
var ErrNotObject = errors.New("chat.message.sent: body is not a JSON object")

// wireChat is the chat.message.sent body (reference §5.4). The documented
// emotes array and the identity objects are not needed and not decoded, so a
// change of their shape (emotes is null in real deliveries) costs nothing.
type wireChat struct {
	MessageID   *string    `json:"message_id"`
	RepliesTo   *wireReply `json:"replies_to"`
	Broadcaster *wireUser  `json:"broadcaster"`
	Sender      *wireUser  `json:"sender"`
	Content     *string    `json:"content"`
	CreatedAt   *string    `json:"created_at"`
}

type wireReply struct {
	MessageID *string   `json:"message_id"`
	Content   *string   `json:"content"`
	Sender    *wireUser `json:"sender"`
}

// wireUser is Kick's user object; an anonymous one is {"is_anonymous": true}.
type wireUser struct {
	IsAnonymous bool        `json:"is_anonymous"`
	UserID      kick.FlexID `json:"user_id"`
	Username    *string     `json:"username"`
	ChannelSlug *string     `json:"channel_slug"`
}

// ParseChatMessageSent maps a chat.message.sent body onto the message type
// the sockets produce, so the matcher, outbox and sinks are shared:
//
//   - message_id → ID; content → Content; created_at → CreatedAt (zero when
//     absent: Kick added it in July 2025);
//   - sender.user_id/username/channel_slug → SenderID/Sender/SenderSlug; an
//     anonymous sender ({"is_anonymous": true}) leaves them empty;
//   - broadcaster.channel_slug → Channel (lowercase), or "broadcaster-<user_id>"
//     when the broadcaster has no slug, or "" when it is anonymous;
//   - replies_to → ReplyTo (message id, content, sender) and Type "reply";
//     otherwise Type "message". A reply to the user is detected by the matcher
//     from ReplyTo.Sender / ReplyTo.SenderID.
//
// ChatroomID is 0: the webhook does not carry it. The parser is strict on the
// JSON types of the fields it uses and names the field in its error.
func ParseChatMessageSent(body []byte) (*pipeline.ChatMessage, error) {
	if len(body) > MaxChatBodyBytes {
		return nil, fmt.Errorf("chat.message.sent: %d bytes, limit %d", len(body), MaxChatBodyBytes)
	}
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, ErrNotObject
	}
	var w wireChat
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, fmt.Errorf("chat.message.sent: %w", err)
	}
	if w.MessageID == nil || strings.TrimSpace(*w.MessageID) == "" {
		return nil, errors.New("chat.message.sent: missing message_id")
	}
	msg := &pipeline.ChatMessage{ID: *w.MessageID, Type: "message"}
	if len(msg.ID) > 256 {
		return nil, errors.New("chat.message.sent: message_id over 256 bytes")
	}
	if w.Content != nil {
		msg.Content = *w.Content
	}
	if w.CreatedAt != nil && *w.CreatedAt != "" {
		t, err := time.Parse(time.RFC3339Nano, *w.CreatedAt)
		if err != nil {
			return nil, fmt.Errorf("chat.message.sent %s: created_at: %w", msg.ID, err)
		}
		msg.CreatedAt = t
	}
	if w.Sender == nil {
		return nil, fmt.Errorf("chat.message.sent %s: missing sender", msg.ID)
	}
	msg.SenderID, msg.Sender, msg.SenderSlug = w.Sender.fields()
	if b := w.Broadcaster; b != nil && !b.IsAnonymous {
		switch {
		case b.ChannelSlug != nil && *b.ChannelSlug != "":
			msg.Channel = strings.ToLower(*b.ChannelSlug)
		case b.UserID.V != 0:
			msg.Channel = "broadcaster-" + strconv.FormatInt(b.UserID.V, 10)
		}
	}
	if r := w.RepliesTo; r != nil {
		ref := &pipeline.ReplyRef{}
		if r.MessageID != nil {
			ref.MessageID = *r.MessageID
		}
		if r.Content != nil {
			ref.Content = *r.Content
		}
		if r.Sender != nil {
			ref.SenderID, ref.Sender, _ = r.Sender.fields()
		}
		msg.ReplyTo = ref
		msg.Type = "reply"
	}
	return msg, nil
}

// fields are the user's id, username and slug; empty for an anonymous user.
func (u *wireUser) fields() (id int64, name, slug string) {
	if u.IsAnonymous {
		return 0, "", ""
	}
	if u.Username != nil {
		name = *u.Username
	}
	if u.ChannelSlug != nil {
		slug = *u.ChannelSlug
	}
	return u.UserID.V, name, slug
}
