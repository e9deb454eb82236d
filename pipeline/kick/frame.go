package kick

import (
	"bytes"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// Reasons a frame is refused; they are the reason labels passed to
// pipeline.Handler.Malformed.
const (
	ReasonOversized    = "oversized"      // larger than Options.MaxFrameBytes
	ReasonJSON         = "json"           // not a JSON object
	ReasonUTF8         = "utf8"           // not valid UTF-8
	ReasonType         = "type"           // a field has the wrong type or is missing
	ReasonChannel      = "channel"        // a channel name that is not chatrooms.{id}.v2
	ReasonBinary       = "binary"         // a binary WebSocket message
	ReasonUnsubscribed = "not_subscribed" // an event for a channel this socket did not join
)

// maxDepth bounds nesting in the outer frame so hostile input cannot blow the stack.
const maxDepth = 64

// FrameError says why a raw frame could not be decoded.
type FrameError struct {
	Reason string // one of the Reason constants
	Detail string
}

func (e *FrameError) Error() string { return "decode pusher frame: " + e.Reason + ": " + e.Detail }

func frameErr(reason, detail string) *FrameError { return &FrameError{Reason: reason, Detail: detail} }

// Frame is one decoded Pusher frame. Its byte slices point into the raw frame
// or the Decoder's scratch buffer and are valid until the next Decode.
type Frame struct {
	Event      string // event name; well-known names are interned (no allocation)
	Channel    []byte // channel name, nil when absent
	Data       []byte // data as JSON: a string's contents unwrapped, an object as sent; nil when absent
	DataString bool   // data was a JSON string (double encoded)
}

// Decoder decodes the outer Pusher frame, reusing one scratch buffer. It is
// not safe for concurrent use.
type Decoder struct {
	scratch []byte
}

// Well-known event names, interned so decoding them does not allocate.
const (
	EventChatMessage         = `App\Events\ChatMessageEvent`
	eventConnEstablished     = "pusher:connection_established"
	eventSubSucceeded        = "pusher_internal:subscription_succeeded"
	eventSubError            = "pusher:subscription_error"
	eventPing                = "pusher:ping"
	eventPong                = "pusher:pong"
	eventError               = "pusher:error"
	eventMessageDeleted      = `App\Events\MessageDeletedEvent`
	eventUserBanned          = `App\Events\UserBannedEvent`
	eventUserUnbanned        = `App\Events\UserUnbannedEvent`
	eventChatroomUpdated     = `App\Events\ChatroomUpdatedEvent`
	eventChatroomClear       = `App\Events\ChatroomClearEvent`
	eventPinnedCreated       = `App\Events\PinnedMessageCreatedEvent`
	eventPinnedDeleted       = `App\Events\PinnedMessageDeletedEvent`
	eventSubscription        = `App\Events\SubscriptionEvent`
	eventGiftedSubscriptions = `App\Events\GiftedSubscriptionsEvent`
)

func intern(b []byte) string {
	switch string(b) { // the compiler does not allocate for this switch
	case EventChatMessage:
		return EventChatMessage
	case eventConnEstablished:
		return eventConnEstablished
	case eventSubSucceeded:
		return eventSubSucceeded
	case eventSubError:
		return eventSubError
	case eventPing:
		return eventPing
	case eventPong:
		return eventPong
	case eventError:
		return eventError
	case eventMessageDeleted:
		return eventMessageDeleted
	case eventUserBanned:
		return eventUserBanned
	case eventUserUnbanned:
		return eventUserUnbanned
	case eventChatroomUpdated:
		return eventChatroomUpdated
	case eventChatroomClear:
		return eventChatroomClear
	case eventPinnedCreated:
		return eventPinnedCreated
	case eventPinnedDeleted:
		return eventPinnedDeleted
	case eventSubscription:
		return eventSubscription
	case eventGiftedSubscriptions:
		return eventGiftedSubscriptions
	}
	return string(b)
}

// Decode decodes raw, one Pusher frame: a JSON object with a string "event",
// an optional string "channel" and an optional "data" that is either a JSON
// string holding JSON (channel events) or a JSON value (pusher:error). Other
// keys are validated and ignored. It returns a *FrameError on bad input.
func (d *Decoder) Decode(raw []byte) (Frame, error) {
	var f Frame
	if !utf8.Valid(raw) {
		return f, frameErr(ReasonUTF8, "invalid UTF-8")
	}
	d.scratch = d.scratch[:0]
	s := scanner{b: raw}
	s.ws()
	if !s.eat('{') {
		return f, frameErr(ReasonJSON, "not an object")
	}
	var haveEvent bool
	var evStart, evEnd, chStart, chEnd, dStart, dEnd int // spans in d.scratch
	s.ws()
	empty := s.eat('}')
	for !empty {
		s.ws()
		kStart := len(d.scratch)
		var ok bool
		if d.scratch, ok = s.str(d.scratch); !ok {
			return f, frameErr(ReasonJSON, s.errAt("bad key"))
		}
		key := d.scratch[kStart:]
		keyKind := 0
		switch string(key) {
		case "event":
			keyKind = 1
		case "channel":
			keyKind = 2
		case "data":
			keyKind = 3
		}
		d.scratch = d.scratch[:kStart]
		s.ws()
		if !s.eat(':') {
			return f, frameErr(ReasonJSON, s.errAt("expected :"))
		}
		s.ws()
		switch keyKind {
		case 1, 2:
			if s.peek() != '"' {
				if keyKind == 2 && s.null() {
					chStart, chEnd = 0, 0
					f.Channel = nil
					break
				}
				if !s.value(0) {
					return f, frameErr(ReasonJSON, s.errAt("bad value"))
				}
				if keyKind == 1 {
					return f, frameErr(ReasonType, "event is not a string")
				}
				return f, frameErr(ReasonType, "channel is not a string")
			}
			st := len(d.scratch)
			if d.scratch, ok = s.str(d.scratch); !ok {
				return f, frameErr(ReasonJSON, s.errAt("bad string"))
			}
			if keyKind == 1 {
				evStart, evEnd, haveEvent = st, len(d.scratch), true
			} else {
				chStart, chEnd = st, len(d.scratch)
				f.Channel = []byte{} // mark present; resolved below
			}
		case 3:
			if s.peek() == '"' {
				st := len(d.scratch)
				if d.scratch, ok = s.str(d.scratch); !ok {
					return f, frameErr(ReasonJSON, s.errAt("bad data string"))
				}
				dStart, dEnd, f.DataString = st, len(d.scratch), true
				f.Data = []byte{}
			} else {
				st := s.i
				if !s.value(0) {
					return f, frameErr(ReasonJSON, s.errAt("bad data value"))
				}
				f.Data, f.DataString = raw[st:s.i], false
			}
		default:
			if !s.value(0) {
				return f, frameErr(ReasonJSON, s.errAt("bad value"))
			}
		}
		s.ws()
		if s.eat('}') {
			break
		}
		if !s.eat(',') {
			return f, frameErr(ReasonJSON, s.errAt("expected , or }"))
		}
	}
	s.ws()
	if s.i != len(s.b) {
		return f, frameErr(ReasonJSON, "trailing data after object")
	}
	if !haveEvent {
		return f, frameErr(ReasonType, "no event")
	}
	f.Event = intern(d.scratch[evStart:evEnd])
	if f.Channel != nil {
		f.Channel = d.scratch[chStart:chEnd:chEnd]
	}
	if f.DataString {
		f.Data = d.scratch[dStart:dEnd:dEnd]
	}
	return f, nil
}

// ChatroomID parses a chatrooms.{id}.v2 channel name.
func ChatroomID(channel []byte) (int64, bool) {
	const pre, suf = "chatrooms.", ".v2"
	// The length check first: in "chatrooms.v2" prefix and suffix overlap.
	if len(channel) <= len(pre)+len(suf) || !bytes.HasPrefix(channel, []byte(pre)) || !bytes.HasSuffix(channel, []byte(suf)) {
		return 0, false
	}
	digits := channel[len(pre) : len(channel)-len(suf)]
	if len(digits) == 0 || len(digits) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	if n <= 0 {
		return 0, false
	}
	return n, true
}

// ChannelName is the Pusher channel that carries a chatroom's chat.
func ChannelName(chatroomID int64) string {
	return "chatrooms." + strconv.FormatInt(chatroomID, 10) + ".v2"
}

// scanner is a small strict JSON scanner for the outer frame.
type scanner struct {
	b []byte
	i int
}

func (s *scanner) errAt(what string) string { return what + " at " + strconv.Itoa(s.i) }

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *scanner) peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

func (s *scanner) eat(c byte) bool {
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

func (s *scanner) null() bool {
	if bytes.HasPrefix(s.b[s.i:], []byte("null")) {
		s.i += 4
		return true
	}
	return false
}

// str reads a JSON string at s.i and appends its unescaped contents to dst.
func (s *scanner) str(dst []byte) ([]byte, bool) {
	if !s.eat('"') {
		return dst, false
	}
	for {
		// Copy the run of plain bytes in one go.
		j := s.i
		for j < len(s.b) && s.b[j] != '"' && s.b[j] != '\\' && s.b[j] >= 0x20 {
			j++
		}
		dst = append(dst, s.b[s.i:j]...)
		s.i = j
		if j >= len(s.b) || s.b[j] < 0x20 {
			return dst, false
		}
		if s.b[j] == '"' {
			s.i++
			return dst, true
		}
		// An escape.
		if j+1 >= len(s.b) {
			return dst, false
		}
		c := s.b[j+1]
		s.i = j + 2
		switch c {
		case '"', '\\', '/':
			dst = append(dst, c)
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, ok := s.hex4()
			if !ok {
				return dst, false
			}
			if utf16.IsSurrogate(r) {
				r2 := utf8.RuneError
				save := s.i
				if s.i+1 < len(s.b) && s.b[s.i] == '\\' && s.b[s.i+1] == 'u' {
					s.i += 2
					if lo, ok := s.hex4(); ok {
						if dec := utf16.DecodeRune(r, lo); dec != utf8.RuneError {
							r2 = dec
						} else {
							s.i = save // not a pair: the second escape stands on its own
						}
					} else {
						return dst, false
					}
				}
				r = r2
			}
			dst = utf8.AppendRune(dst, r)
		default:
			return dst, false
		}
	}
}

func (s *scanner) hex4() (rune, bool) {
	if s.i+4 > len(s.b) {
		return 0, false
	}
	var r rune
	for _, c := range s.b[s.i : s.i+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	s.i += 4
	return r, true
}

// value skips one JSON value, validating it.
func (s *scanner) value(depth int) bool {
	if depth > maxDepth {
		return false
	}
	s.ws()
	switch c := s.peek(); {
	case c == '"':
		return s.skipStr()
	case c == '{':
		s.i++
		s.ws()
		if s.eat('}') {
			return true
		}
		for {
			s.ws()
			if !s.skipStr() {
				return false
			}
			s.ws()
			if !s.eat(':') || !s.value(depth+1) {
				return false
			}
			s.ws()
			if s.eat('}') {
				return true
			}
			if !s.eat(',') {
				return false
			}
		}
	case c == '[':
		s.i++
		s.ws()
		if s.eat(']') {
			return true
		}
		for {
			if !s.value(depth + 1) {
				return false
			}
			s.ws()
			if s.eat(']') {
				return true
			}
			if !s.eat(',') {
				return false
			}
		}
	case c == 't':
		return s.lit("true")
	case c == 'f':
		return s.lit("false")
	case c == 'n':
		return s.lit("null")
	case c == '-' || (c >= '0' && c <= '9'):
		return s.number()
	}
	return false
}

func (s *scanner) lit(word string) bool {
	if bytes.HasPrefix(s.b[s.i:], []byte(word)) {
		s.i += len(word)
		return true
	}
	return false
}

func (s *scanner) skipStr() bool {
	if !s.eat('"') {
		return false
	}
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return true
		case c < 0x20:
			return false
		case c == '\\':
			if s.i+1 >= len(s.b) {
				return false
			}
			switch s.b[s.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i += 2
			case 'u':
				s.i += 2
				if _, ok := s.hex4(); !ok {
					return false
				}
			default:
				return false
			}
		default:
			s.i++
		}
	}
	return false
}

// number skips a JSON number per RFC 8259's grammar.
func (s *scanner) number() bool {
	s.eat('-')
	switch {
	case s.eat('0'):
	case s.i < len(s.b) && s.b[s.i] >= '1' && s.b[s.i] <= '9':
		s.digits()
	default:
		return false
	}
	if s.eat('.') {
		if s.digits() == 0 {
			return false
		}
	}
	if c := s.peek(); c == 'e' || c == 'E' {
		s.i++
		if c := s.peek(); c == '+' || c == '-' {
			s.i++
		}
		if s.digits() == 0 {
			return false
		}
	}
	return true
}

func (s *scanner) digits() int {
	n := 0
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
		n++
	}
	return n
}
