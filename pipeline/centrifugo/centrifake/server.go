// Package centrifake is a fake of Kick's Centrifugo realtime server for tests
// and demos. It behaves as the reference (../shared/reference/kick-centrifugo.md
// §4, §5, §7) records a real Centrifugo v6.9.6 doing: Origin check (403
// "Forbidden" for a wrong Origin, a missing one accepted), the connect reply
// with ping/pong/ttl/expires, "{}" pings and a 3012 "no pong" close, refresh
// replies, line-batched replies, errors 105/109, closes 3005/3501/3502, and
// server-side unsubscribe pushes. Tests drive each connection through *Conn
// (Send, Publish, Unsubscribe, Disconnect) and read what the client sent
// with Conn.NextCommand and Conn.Commands. Realtime fakes the negotiation
// and guest token endpoints.
package centrifake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// ReplyError is returned by the Authorize and Subscribe hooks to answer a
// command with an error reply, e.g. {Code: 109, Message: "token expired"}.
type ReplyError struct {
	Code    uint32 `json:"code"`
	Message string `json:"message"`
}

func (e *ReplyError) Error() string { return fmt.Sprintf("error %d: %s", e.Code, e.Message) }

// Close is returned by the Authorize hook to close the connection instead,
// e.g. {Code: 3500, Reason: "invalid token"}.
type Close struct {
	Code   int
	Reason string
}

func (e *Close) Error() string { return fmt.Sprintf("close %d: %s", e.Code, e.Reason) }

// Options configures a Server. Zero durations take Centrifugo's defaults;
// a negative one disables the feature.
type Options struct {
	AllowedOrigins    []string      // default ["https://kick.com"]; no Origin at all is accepted
	PingInterval      time.Duration // default 25s
	PongTimeout       time.Duration // default 8s
	TTL               time.Duration // token lifetime announced; default 2700s
	ExpiredCloseDelay time.Duration // default 25s
	StaleCloseDelay   time.Duration // no connect within this → close 3502; default 10s
	Version           string        // default "6.9.6 fake"
	// Authorize judges connect (refresh false) and refresh tokens: nil
	// accepts; a *ReplyError answers with it; a *Close closes. Default:
	// accept a non-empty token, close 3501 "bad request" on an empty one
	// at connect and 3500 "invalid token" on an empty refresh.
	Authorize func(token string, refresh bool) error
	// Subscribe judges a subscribe: nil accepts; a *ReplyError refuses.
	Subscribe func(channel string) error
}

// Server is the fake. Mount it as an http.Handler.
type Server struct {
	opts       Options
	mu         sync.Mutex
	conns      map[*Conn]struct{}
	newc       chan *Conn
	duplicates atomic.Int64
}

// New returns a Server.
func New(opts Options) *Server {
	if len(opts.AllowedOrigins) == 0 {
		opts.AllowedOrigins = []string{"https://kick.com"}
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&opts.PingInterval, 25*time.Second)
	def(&opts.PongTimeout, 8*time.Second)
	def(&opts.TTL, 2700*time.Second)
	def(&opts.ExpiredCloseDelay, 25*time.Second)
	def(&opts.StaleCloseDelay, 10*time.Second)
	if opts.Version == "" {
		opts.Version = "6.9.6 fake"
	}
	return &Server{opts: opts, conns: map[*Conn]struct{}{}, newc: make(chan *Conn, 64)}
}

// DuplicateSubscribes counts subscribes to a channel the connection already
// held (answered with error 105); a well-behaved client never sends one.
func (s *Server) DuplicateSubscribes() int64 { return s.duplicates.Load() }

// Conns yields each accepted WebSocket connection once.
func (s *Server) Conns() <-chan *Conn { return s.newc }

// ServeHTTP checks the Origin, upgrades and serves one connection.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if o := r.Header.Get("Origin"); o != "" && !slices.Contains(s.opts.AllowedOrigins, o) {
		http.Error(w, "Forbidden", http.StatusForbidden)
		return
	}
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		return
	}
	ws.SetReadLimit(-1)
	c := newConn(s, ws, r)
	s.mu.Lock()
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	select {
	case s.newc <- c:
	default: // nobody watches: fine for demos
	}
	c.serve(r.Context())
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// Publish sends a Kick event (data: the event's JSON object, sent as a JSON
// string as Kick does) to every connection subscribed to channel and
// returns how many got it.
func (s *Server) Publish(channel, event string, data []byte) int {
	frame := PubFrame(channel, event, data, false)
	n := 0
	for _, c := range s.snapshot() {
		if c.Subscribed(channel) && c.Send(frame) == nil {
			n++
		}
	}
	return n
}

// CloseAll closes every connection with code and reason.
func (s *Server) CloseAll(code int, reason string) {
	for _, c := range s.snapshot() {
		c.Disconnect(code, reason)
	}
}

func (s *Server) snapshot() []*Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*Conn, 0, len(s.conns))
	for c := range s.conns {
		out = append(out, c)
	}
	return out
}

// PubFrame is the push line Kick sends for one event. data is the event's
// JSON object; asObject embeds it as an object instead of a JSON string.
func PubFrame(channel, event string, data []byte, asObject bool) []byte {
	inner := json.RawMessage(data)
	if !asObject {
		s, _ := json.Marshal(string(data))
		inner = s
	}
	type pubData struct {
		Event string          `json:"event"`
		Data  json.RawMessage `json:"data"`
	}
	var p struct {
		Push struct {
			Channel string `json:"channel"`
			Pub     struct {
				Data pubData `json:"data"`
			} `json:"pub"`
		} `json:"push"`
	}
	p.Push.Channel = channel
	p.Push.Pub.Data = pubData{Event: event, Data: inner}
	b, err := json.Marshal(p)
	if err != nil { // data was not valid JSON
		return []byte(`{"push":{"channel":` + quote(channel) + `,"pub":{"data":{"event":` + quote(event) + `,"data":` + quote(string(data)) + `}}}}`)
	}
	return b
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
