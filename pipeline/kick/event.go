package kick

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"kickwatch/pipeline"
)

// MaxEventBytes bounds the decoded data of one chat message event. Kick's
// messages are a few hundred bytes; a frame is bounded by Options.MaxFrameBytes
// anyway, this keeps the parser safe on its own.
const MaxEventBytes = 256 << 10

// ErrNotObject is returned by ParseChatMessage for data that is not a JSON object.
var ErrNotObject = errors.New("chat message: data is not a JSON object")

// IsChatMessageEvent reports whether name is Kick's chat message event,
// `App\Events\ChatMessageEvent`, with or without the `App\Events\` prefix.
func IsChatMessageEvent(name string) bool {
	return name == EventChatMessage || name == "ChatMessageEvent"
}

// wireMessage is the decoded data of App\Events\ChatMessageEvent (reference §4.1).
type wireMessage struct {
	ID         *string          `json:"id"`
	ChatroomID *json.RawMessage `json:"chatroom_id"`
	Content    *string          `json:"content"`
	Type       *string          `json:"type"`
	CreatedAt  *string          `json:"created_at"`
	Sender     *wireSender      `json:"sender"`
	Metadata   *wireMeta        `json:"metadata"`
}

type wireSender struct {
	ID       FlexID  `json:"id"`
	Username *string `json:"username"`
	Slug     *string `json:"slug"`
}

type wireMeta struct {
	OriginalSender  *wireOrigSender `json:"original_sender"`
	OriginalMessage *wireOrigMsg    `json:"original_message"`
	// message_ref and celebration are not needed; their types are not checked
	// so a new shape there cannot cost a mention.
}

type wireOrigSender struct {
	ID       FlexID  `json:"id"`
	Username *string `json:"username"`
}

type wireOrigMsg struct {
	ID      *string `json:"id"`
	Content *string `json:"content"`
}

// FlexID is a Kick numeric id sent as a JSON number or, in 2023 payloads, as a
// string holding the number. V is the id; Set reports whether one was sent
// (null and an absent key leave it unset).
type FlexID struct {
	V   int64
	Set bool
}

// UnmarshalJSON accepts a non-negative integer, as a number or a string.
func (f *FlexID) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		return nil
	}
	s := b
	if len(b) > 0 && b[0] == '"' {
		var str string
		if err := json.Unmarshal(b, &str); err != nil {
			return fmt.Errorf("id: %w", err)
		}
		s = []byte(str)
	}
	v, err := strconv.ParseInt(string(s), 10, 64)
	if err != nil || v < 0 {
		return fmt.Errorf("id %.32q is not a non-negative integer", b)
	}
	f.V, f.Set = v, true
	return nil
}

// ParseChatMessage parses the decoded data object of an
// `App\Events\ChatMessageEvent` (reference §4): 2023 and 2025 shapes, message,
// reply and celebration types, ids as numbers or strings. It is strict on the
// types of the fields it uses and returns an error naming the field. The
// result's Channel is left empty (the source fills it from its subscriptions);
// ChatroomID is 0 when the payload has none (use the transport channel's id).
func ParseChatMessage(data []byte) (pipeline.ChatMessage, error) {
	var msg pipeline.ChatMessage
	if len(data) > MaxEventBytes {
		return msg, fmt.Errorf("chat message: %d bytes, limit %d", len(data), MaxEventBytes)
	}
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return msg, ErrNotObject
	}
	var w wireMessage
	if err := json.Unmarshal(data, &w); err != nil {
		return msg, fmt.Errorf("chat message: %w", err)
	}
	if w.ID == nil || *w.ID == "" {
		return msg, errors.New("chat message: missing id")
	}
	msg.ID = *w.ID
	if w.ChatroomID != nil {
		var id FlexID
		if err := id.UnmarshalJSON(*w.ChatroomID); err != nil {
			return msg, fmt.Errorf("chat message %s: chatroom_id: %w", msg.ID, err)
		}
		msg.ChatroomID = id.V
	}
	if w.Content != nil {
		msg.Content = *w.Content
	}
	msg.Type = "message"
	if w.Type != nil && *w.Type != "" {
		msg.Type = *w.Type
	}
	if w.CreatedAt != nil && *w.CreatedAt != "" {
		t, err := time.Parse(time.RFC3339Nano, *w.CreatedAt)
		if err != nil {
			return msg, fmt.Errorf("chat message %s: created_at: %w", msg.ID, err)
		}
		msg.CreatedAt = t
	}
	if w.Sender == nil {
		return msg, fmt.Errorf("chat message %s: missing sender", msg.ID)
	}
	if w.Sender.Username == nil || *w.Sender.Username == "" {
		return msg, fmt.Errorf("chat message %s: missing sender.username", msg.ID)
	}
	msg.SenderID = w.Sender.ID.V
	msg.Sender = *w.Sender.Username
	if w.Sender.Slug != nil {
		msg.SenderSlug = *w.Sender.Slug
	}
	if m := w.Metadata; m != nil && (m.OriginalSender != nil || m.OriginalMessage != nil) {
		ref := &pipeline.ReplyRef{}
		if os := m.OriginalSender; os != nil {
			ref.SenderID = os.ID.V
			if os.Username != nil {
				ref.Sender = *os.Username
			}
		}
		if om := m.OriginalMessage; om != nil {
			if om.ID != nil {
				ref.MessageID = *om.ID
			}
			if om.Content != nil {
				ref.Content = *om.Content
			}
		}
		msg.ReplyTo = ref
	}
	return msg, nil
}
