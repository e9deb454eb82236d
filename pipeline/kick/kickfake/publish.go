package kickfake

import (
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// EncodeFrame builds a Pusher frame the way Kick's server sends channel
// events (reference §2.1): {"event":…,"data":"<data as a JSON string>","channel":…},
// with PHP's json_encode escaping — "/" as `\/` and non-ASCII as \uXXXX
// (surrogate pairs) — applied inside data and again to the outer string.
// data must be valid JSON. An empty channel is left out.
func EncodeFrame(channel, event string, data []byte) []byte {
	inner := PHPEscapeJSON(data)
	b := make([]byte, 0, len(inner)*5/4+len(event)+len(channel)+48)
	b = append(b, `{"event":`...)
	b = appendPHPString(b, []byte(event))
	b = append(b, `,"data":`...)
	b = appendPHPString(b, inner)
	if channel != "" {
		b = append(b, `,"channel":`...)
		b = appendPHPString(b, []byte(channel))
	}
	return append(b, '}')
}

// EncodeObjectFrame builds a frame whose data is the JSON value itself, not a
// string (how pusher:error and some servers send it).
func EncodeObjectFrame(channel, event string, data []byte) []byte {
	b := make([]byte, 0, len(data)+len(event)+len(channel)+48)
	b = append(b, `{"event":`...)
	b = appendPHPString(b, []byte(event))
	b = append(b, `,"data":`...)
	b = append(b, data...)
	if channel != "" {
		b = append(b, `,"channel":`...)
		b = appendPHPString(b, []byte(channel))
	}
	return append(b, '}')
}

// PHPEscapeJSON rewrites the string literals of valid JSON the way PHP's
// json_encode writes them: `\/` for "/" and \uXXXX for non-ASCII.
func PHPEscapeJSON(js []byte) []byte {
	out := make([]byte, 0, len(js)+len(js)/8)
	inStr := false
	for i := 0; i < len(js); {
		c := js[i]
		if !inStr {
			out = append(out, c)
			inStr = c == '"'
			i++
			continue
		}
		switch {
		case c == '\\' && i+1 < len(js):
			out = append(out, c, js[i+1])
			i += 2
		case c == '"':
			out = append(out, c)
			inStr = false
			i++
		case c == '/':
			out = append(out, '\\', '/')
			i++
		case c >= utf8.RuneSelf:
			r, n := utf8.DecodeRune(js[i:])
			out = appendUEscape(out, r)
			i += n
		default:
			out = append(out, c)
			i++
		}
	}
	return out
}

// appendPHPString appends s as a JSON string literal, PHP-style.
func appendPHPString(b, s []byte) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '"' || c == '\\' || c == '/':
			b = append(b, '\\', c)
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '\r':
			b = append(b, '\\', 'r')
		case c == '\t':
			b = append(b, '\\', 't')
		case c < 0x20:
			b = appendUEscape(b, rune(c))
		case c >= utf8.RuneSelf:
			r, n := utf8.DecodeRune(s[i:])
			b = appendUEscape(b, r)
			i += n
			continue
		default:
			b = append(b, c)
		}
		i++
	}
	return append(b, '"')
}

func appendUEscape(b []byte, r rune) []byte {
	hex4 := func(b []byte, v rune) []byte {
		s := strconv.FormatInt(int64(v), 16)
		b = append(b, '\\', 'u')
		for range 4 - len(s) {
			b = append(b, '0')
		}
		return append(b, s...)
	}
	if r > 0xFFFF {
		r -= 0x10000
		b = hex4(b, 0xD800+(r>>10))
		return hex4(b, 0xDC00+(r&0x3FF))
	}
	return hex4(b, r)
}

// Publish sends a channel event to every socket subscribed to the chatroom,
// double-encoded as Kick does. It returns the number of sockets it reached.
func (s *Server) Publish(chatroomID int64, event string, data []byte) int {
	return s.route(channelName(chatroomID), EncodeFrame(channelName(chatroomID), event, data))
}

// PublishObject is Publish with data sent as a JSON object instead of a string.
func (s *Server) PublishObject(chatroomID int64, event string, data []byte) int {
	return s.route(channelName(chatroomID), EncodeObjectFrame(channelName(chatroomID), event, data))
}

// PublishFrame sends a frame exactly as given to the sockets subscribed to its
// "channel", or to every socket when it has none (protocol frames).
func (s *Server) PublishFrame(frame []byte) int {
	var f struct {
		Channel string `json:"channel"`
	}
	_ = json.Unmarshal(frame, &f)
	if f.Channel == "" {
		return s.PublishRaw(frame)
	}
	return s.route(f.Channel, frame)
}

// PublishRaw sends bytes exactly as given to every open socket, subscribed or
// not (malformed frames, events for channels a client did not join).
func (s *Server) PublishRaw(frame []byte) int {
	return s.route("", frame)
}

func (s *Server) route(channel string, frame []byte) int {
	s.mu.Lock()
	targets := make([]*fconn, 0, len(s.conns))
	for c := range s.conns {
		if _, ok := c.subs[channel]; ok || channel == "" {
			targets = append(targets, c)
		}
	}
	s.mu.Unlock()
	for _, c := range targets {
		c.send(frame, true)
	}
	return len(targets)
}
