package centrifugo

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Centrifugo reply error codes the client branches on (reference §4.6).
const (
	codeInternal          = 100
	codeAlreadySubscribed = 105
	codeTokenExpired      = 109
)

// ReplyError is an error reply from the server to one command.
type ReplyError struct {
	Code      uint32 `json:"code"`
	Message   string `json:"message"`
	Temporary bool   `json:"temporary"`
}

// Error names the code and the server's message (trimmed).
func (e *ReplyError) Error() string {
	return "centrifugo error " + strconv.FormatUint(uint64(e.Code), 10) + ": " + truncate(e.Message, 100)
}

// frame is one decoded line: a reply (ID > 0) or a push.
type frame struct {
	ID          uint32          `json:"id"`
	Error       *ReplyError     `json:"error"`
	Connect     *connectResult  `json:"connect"`
	Subscribe   json.RawMessage `json:"subscribe"`
	Unsubscribe json.RawMessage `json:"unsubscribe"`
	Refresh     *refreshResult  `json:"refresh"`
	Push        *push           `json:"push"`
}

type connectResult struct {
	Client  string `json:"client"`
	Version string `json:"version"`
	Expires bool   `json:"expires"`
	TTL     uint32 `json:"ttl"`  // seconds
	Ping    uint32 `json:"ping"` // seconds
	Pong    bool   `json:"pong"`
}

type refreshResult struct {
	Expires bool   `json:"expires"`
	TTL     uint32 `json:"ttl"`
}

type push struct {
	Channel     string           `json:"channel"`
	Pub         *publication     `json:"pub"`
	Unsubscribe *unsubscribePush `json:"unsubscribe"`
	Disconnect  *disconnectPush  `json:"disconnect"`
}

type publication struct {
	Data json.RawMessage `json:"data"`
}

type unsubscribePush struct {
	Code   uint32 `json:"code"`
	Reason string `json:"reason"`
}

type disconnectPush struct {
	Code      uint32 `json:"code"`
	Reason    string `json:"reason"`
	Reconnect bool   `json:"reconnect"`
}

// envelope is Kick's own event wrapper inside push.pub.data.
type envelope struct {
	Event string          `json:"event"`
	Data  json.RawMessage `json:"data"`
}

var pingLine = []byte("{}")

// nextLine returns the first line of b (without '\n' and a trailing '\r')
// and the rest. Centrifugo batches one JSON object per line.
func nextLine(b []byte) (line, rest []byte) {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		line, rest = b, nil
	} else {
		line, rest = b[:i], b[i+1:]
	}
	return bytes.TrimSpace(line), rest
}

// isPing reports whether a line is the server's empty-object ping.
func isPing(line []byte) bool { return bytes.Equal(line, pingLine) }

// decodeError is a line the client cannot use, with the Malformed reason.
type decodeError struct {
	reason string
	err    error
}

func (e *decodeError) Error() string { return e.reason + ": " + e.err.Error() }

func malformed(reason string, err error) error { return &decodeError{reason: reason, err: err} }

// parseLine decodes one non-ping line.
func parseLine(line []byte) (frame, error) {
	var f frame
	if !utf8.Valid(line) {
		return f, malformed("utf8", errors.New("invalid utf-8"))
	}
	if err := json.Unmarshal(line, &f); err != nil {
		return f, malformed(jsonReason(err), err)
	}
	if f.ID == 0 && f.Push == nil {
		return f, malformed("unknown_frame", errors.New("neither a reply nor a push"))
	}
	return f, nil
}

func jsonReason(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return "type"
	}
	return "json"
}

// decodeEvent unwraps push.pub.data into Kick's event name and the event's
// own JSON object: data is usually a JSON string holding the object, and
// sometimes the object itself (reference §4.4).
func decodeEvent(pubData json.RawMessage) (name string, data []byte, err error) {
	var env envelope
	if err := json.Unmarshal(pubData, &env); err != nil {
		return "", nil, malformed(jsonReason(err), err)
	}
	if env.Event == "" || len(env.Event) > 256 {
		return "", nil, malformed("type", errors.New("missing or oversized event name"))
	}
	raw := bytes.TrimSpace(env.Data)
	switch {
	case len(raw) == 0:
		return "", nil, malformed("type", errors.New("missing event data"))
	case raw[0] == '{':
		return env.Event, raw, nil
	case raw[0] == '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", nil, malformed("json", err)
		}
		inner := bytes.TrimSpace([]byte(s))
		if len(inner) == 0 || inner[0] != '{' {
			return "", nil, malformed("type", errors.New("event data is not a JSON object"))
		}
		if !json.Valid(inner) {
			return "", nil, malformed("json", errors.New("event data string is not valid JSON"))
		}
		return env.Event, inner, nil
	}
	return "", nil, malformed("type", fmt.Errorf("event data is a JSON %s", jsonKind(raw[0])))
}

func jsonKind(c byte) string {
	switch c {
	case '[':
		return "array"
	case 'n':
		return "null"
	case 't', 'f':
		return "boolean"
	}
	return "number"
}

// ChannelName is the Centrifugo channel that carries a chatroom's messages.
func ChannelName(chatroomID int64) string {
	return "chatrooms." + strconv.FormatInt(chatroomID, 10) + ".v2"
}

// parseChannel returns the chatroom id of a chatrooms.<id>.v2 channel name.
func parseChannel(name string) (int64, bool) {
	rest, ok := strings.CutPrefix(name, "chatrooms.")
	if !ok {
		return 0, false
	}
	num, ok := strings.CutSuffix(rest, ".v2")
	if !ok || num == "" || num[0] < '1' || num[0] > '9' { // one spelling per id: no sign, no leading zero
		return 0, false
	}
	id, err := strconv.ParseInt(num, 10, 64)
	if err != nil || id <= 0 {
		return 0, false
	}
	return id, true
}

// Commands the client sends; ID last, as the web client writes it.
type command struct {
	Connect     *connectRequest     `json:"connect,omitempty"`
	Subscribe   *subscribeRequest   `json:"subscribe,omitempty"`
	Unsubscribe *unsubscribeRequest `json:"unsubscribe,omitempty"`
	Refresh     *refreshRequest     `json:"refresh,omitempty"`
	ID          uint32              `json:"id"`
}

type connectRequest struct {
	Token string `json:"token"`
	Name  string `json:"name"`
}

type subscribeRequest struct {
	Channel string `json:"channel"`
	Flag    int    `json:"flag"` // 0: no channel compaction, pushes keep their channel name
}

type unsubscribeRequest struct {
	Channel string `json:"channel"`
}

type refreshRequest struct {
	Token string `json:"token"`
}

// appendCommand appends cmd as one line (newline-separated from what b
// already holds).
func appendCommand(b []byte, cmd command) []byte {
	if len(b) > 0 {
		b = append(b, '\n')
	}
	out, err := json.Marshal(cmd)
	if err != nil { // only strings and numbers: cannot fail
		return b
	}
	return append(b, out...)
}
