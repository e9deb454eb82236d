package match

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"testing"
	"time"
	"unicode/utf16"

	"kickwatch/pipeline"
)

// This file builds and decodes frames in Kick's wire shapes for the tests and
// benchmarks. The real parser lives in pipeline/kick; this one is a stand-in
// that decodes the same fields.

// kickPayload is the decoded data of App\Events\ChatMessageEvent.
type kickPayload struct {
	ID         string `json:"id"`
	ChatroomID int64  `json:"chatroom_id"`
	Content    string `json:"content"`
	Type       string `json:"type"`
	CreatedAt  string `json:"created_at"`
	Sender     struct {
		ID       int64  `json:"id"`
		Username string `json:"username"`
		Slug     string `json:"slug"`
	} `json:"sender"`
	Metadata *struct {
		OriginalSender *struct {
			ID       flexID `json:"id"`
			Username string `json:"username"`
		} `json:"original_sender"`
		OriginalMessage *struct {
			ID      string `json:"id"`
			Content string `json:"content"`
		} `json:"original_message"`
		MessageRef string `json:"message_ref"`
	} `json:"metadata"`
}

// flexID reads an id written as a number or a string.
type flexID int64

func (f *flexID) UnmarshalJSON(b []byte) error {
	b = bytes.Trim(b, `"`)
	if len(b) == 0 || string(b) == "null" {
		*f = 0
		return nil
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return fmt.Errorf("id: %w", err)
	}
	*f = flexID(n)
	return nil
}

type pusherEnvelope struct {
	Event   string          `json:"event"`
	Data    json.RawMessage `json:"data"`
	Channel string          `json:"channel"`
}

type centEnvelope struct {
	Push struct {
		Channel string `json:"channel"`
		Pub     struct {
			Data pusherEnvelope `json:"data"`
		} `json:"pub"`
	} `json:"push"`
}

// decodeFrame decodes a Pusher or Centrifugo chat frame into a ChatMessage.
func decodeFrame(raw []byte) (*pipeline.ChatMessage, error) {
	var env pusherEnvelope
	if bytes.HasPrefix(raw, []byte(`{"push"`)) {
		var c centEnvelope
		if err := json.Unmarshal(raw, &c); err != nil {
			return nil, fmt.Errorf("decode frame: %w", err)
		}
		env, env.Channel = c.Push.Pub.Data, c.Push.Channel
	} else if err := json.Unmarshal(raw, &env); err != nil {
		return nil, fmt.Errorf("decode frame: %w", err)
	}
	data := []byte(env.Data)
	if len(data) > 0 && data[0] == '"' {
		var s string
		if err := json.Unmarshal(data, &s); err != nil {
			return nil, fmt.Errorf("decode data string: %w", err)
		}
		data = []byte(s)
	}
	var p kickPayload
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, fmt.Errorf("decode data: %w", err)
	}
	created, _ := time.Parse(time.RFC3339, p.CreatedAt)
	msg := &pipeline.ChatMessage{
		ID: p.ID, ChatroomID: p.ChatroomID, Channel: "somechan", Type: p.Type, Content: p.Content,
		SenderID: p.Sender.ID, Sender: p.Sender.Username, SenderSlug: p.Sender.Slug, CreatedAt: created,
	}
	if md := p.Metadata; md != nil && md.OriginalSender != nil {
		msg.ReplyTo = &pipeline.ReplyRef{SenderID: int64(md.OriginalSender.ID), Sender: md.OriginalSender.Username}
		if md.OriginalMessage != nil {
			msg.ReplyTo.MessageID, msg.ReplyTo.Content = md.OriginalMessage.ID, md.OriginalMessage.Content
		}
	}
	return msg, nil
}

// jsonString encodes s as a JSON string. php mimics PHP's json_encode (Kick's
// encoder): '/' as "\/" and everything non-ASCII as \uXXXX surrogates; else
// it is Go's encoder (which escapes <, >, &).
func jsonString(s string, php bool) []byte {
	if !php {
		b, _ := json.Marshal(s)
		return b
	}
	var buf bytes.Buffer
	buf.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\' || r == '/':
			buf.WriteByte('\\')
			buf.WriteRune(r)
		case r == '\n':
			buf.WriteString(`\n`)
		case r < 0x20:
			fmt.Fprintf(&buf, `\u%04x`, r)
		case r < 0x80:
			buf.WriteRune(r)
		case r > 0xffff:
			a, b := utf16.EncodeRune(r)
			fmt.Fprintf(&buf, `\u%04x\u%04x`, a, b)
		default:
			fmt.Fprintf(&buf, `\u%04x`, r)
		}
	}
	buf.WriteByte('"')
	return buf.Bytes()
}

// jsonValue encodes v (maps, strings, numbers) with either encoder.
func jsonValue(v any, php bool) []byte {
	switch x := v.(type) {
	case string:
		return jsonString(x, php)
	case map[string]any:
		var buf bytes.Buffer
		buf.WriteByte('{')
		first := true
		for _, k := range sortedKeys(x) {
			if !first {
				buf.WriteByte(',')
			}
			first = false
			buf.Write(jsonString(k, php))
			buf.WriteByte(':')
			buf.Write(jsonValue(x[k], php))
		}
		buf.WriteByte('}')
		return buf.Bytes()
	default:
		b, _ := json.Marshal(x)
		return b
	}
}

func sortedKeys(m map[string]any) []string {
	order := []string{"id", "chatroom_id", "content", "type", "created_at", "sender", "username", "slug", "identity", "color", "badges", "metadata", "original_sender", "original_message", "message_ref"}
	var keys []string
	for _, k := range order {
		if _, ok := m[k]; ok {
			keys = append(keys, k)
		}
	}
	for k := range m {
		known := false
		for _, o := range order {
			known = known || o == k
		}
		if !known {
			keys = append(keys, k)
		}
	}
	return keys
}

// payload fills a Kick chat payload around fields (content, sender, metadata
// …), overriding the defaults.
func payload(fields map[string]any) map[string]any {
	p := map[string]any{
		"id": "0b6a1f3e-5c2d-4b8e-9a51-7d2c9e4f1a20", "chatroom_id": 2346570, "content": "",
		"type": "message", "created_at": "2025-08-20T07:07:44+00:00",
		"sender": map[string]any{"id": 4815162, "username": "Viewer_One", "slug": "viewer-one",
			"identity": map[string]any{"color": "#DEB2FF", "badges": []any{map[string]any{"type": "subscriber", "text": "Subscriber", "count": 3}}}},
		"metadata": map[string]any{"message_ref": "1755673663786"},
	}
	for k, v := range fields {
		p[k] = v
	}
	return p
}

// frameShape is how a chat payload travels.
type frameShape int

const (
	shapePusher      frameShape = iota // Pusher, data as a string (double encoded)
	shapePusherPHP                     // the same, every layer encoded PHP-style
	shapeCentString                    // Centrifugo push, pub.data.data a string
	shapeCentObject                    // Centrifugo push, pub.data.data an object
	shapePusherOrder                   // Pusher with channel first
	numShapes
)

// buildFrame wraps payload p in the given frame shape.
func buildFrame(p map[string]any, shape frameShape) []byte {
	php := shape == shapePusherPHP
	inner := jsonValue(p, php)
	data := jsonString(string(inner), php)
	const ev = `"event":"App\\Events\\ChatMessageEvent"`
	switch shape {
	case shapeCentString:
		return fmt.Appendf(nil, `{"push":{"channel":"chatrooms.2346570.v2","pub":{"data":{%s,"data":%s}}}}`, ev, data)
	case shapeCentObject:
		return fmt.Appendf(nil, `{"push":{"channel":"chatrooms.2346570.v2","pub":{"data":{"data":%s,%s}}}}`, inner, ev)
	case shapePusherOrder:
		return fmt.Appendf(nil, `{"channel":"chatrooms.2346570.v2",%s,"data":%s}`, ev, data)
	}
	return fmt.Appendf(nil, `{%s,"data":%s,"channel":"chatrooms.2346570.v2"}`, ev, data)
}

func pusherFrame(t testing.TB, fields map[string]any) []byte {
	t.Helper()
	return buildFrame(payload(fields), shapePusher)
}
