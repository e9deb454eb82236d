// Package kickfake is a fake of Kick's chat socket (a hosted Pusher app,
// protocol 7) and of Kick's channel lookup API, behaving as
// ../shared/reference/kick-chat-protocol.md §2 and §5.1 describe. Tests run it
// under httptest; the demo mode of the daemon serves it on a local port and
// plays a scripted chat into it.
package kickfake

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// DefaultAppKey is Kick's Pusher app key (reference §1.1).
const DefaultAppKey = "32cbd69e4b950bf97679"

// queueLen bounds a connection's outgoing queue; a client that falls further
// behind is dropped, as a real server would.
const queueLen = 4096

// Options configure a Server.
type Options struct {
	AppKey          string // accepted key; DefaultAppKey
	ActivityTimeout int    // seconds, sent in connection_established; default 120
	// EstablishAfterSubscribe holds connection_established until the client
	// has sent its first pusher:subscribe (to test early subscribers).
	EstablishAfterSubscribe bool
	// PingEvery makes the server send {"event":"pusher:ping","data":{}} on
	// every socket this often; 0 never.
	PingEvery time.Duration
	Logger    *slog.Logger
}

// Stats counts what the server has seen.
type Stats struct {
	Connections  int // sockets accepted (upgraded), ever
	Open         int // sockets open now
	Subscribes   int // pusher:subscribe frames received
	Unsubscribes int // pusher:unsubscribe frames received
	Pings        int // pusher:ping frames received
	Pongs        int // pusher:pong frames received
	Other        int // any other client frame
}

// Server is the fake. Its zero value is not usable; call New.
type Server struct {
	o   Options
	log *slog.Logger

	mu        sync.Mutex
	key       string
	conns     map[*fconn]struct{}
	stats     Stats
	changed   chan struct{} // closed and replaced on every change
	stalled   bool
	delay     time.Duration
	channels  map[string]APIChannel // slug → channel, for the lookup API
	apiBlock  bool
	nextSock  int
	socketTop int
}

// New returns a Server.
func New(o Options) *Server {
	if o.AppKey == "" {
		o.AppKey = DefaultAppKey
	}
	if o.ActivityTimeout <= 0 {
		o.ActivityTimeout = 120
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Server{
		o:         o,
		log:       o.Logger.With("component", "kickfake"),
		key:       o.AppKey,
		conns:     map[*fconn]struct{}{},
		changed:   make(chan struct{}),
		channels:  map[string]APIChannel{},
		socketTop: 100000 + rand.IntN(800000),
	}
}

// Handler serves the socket at /app/{key} and the lookup API at /api/v2/channels/{slug}.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /app/{key}", s.serveSocket)
	mux.HandleFunc("GET /api/v2/channels/{slug}", s.serveChannel)
	mux.HandleFunc("GET /api/v1/channels/{slug}", s.serveChannel)
	return mux
}

// SocketURL is the socket URL, with the query pusher-js sends, for a server
// whose base URL is base (e.g. an httptest server's URL).
func (s *Server) SocketURL(base string) string {
	base = strings.Replace(strings.Replace(base, "https://", "wss://", 1), "http://", "ws://", 1)
	return strings.TrimRight(base, "/") + "/app/" + s.o.AppKey + "?protocol=7&client=js&version=8.4.0&flash=false"
}

// APIURL is the lookup API base for a server whose base URL is base.
func (s *Server) APIURL(base string) string { return strings.TrimRight(base, "/") + "/api/v2" }

// Serve serves the fake on ln until ctx is done (for the demo mode).
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		s.Drop()
		_ = srv.Shutdown(sctx)
	}()
	err := srv.Serve(ln)
	<-stopped
	if err == http.ErrServerClosed {
		return nil
	}
	return fmt.Errorf("serve kickfake: %w", err)
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Open = len(s.conns)
	return st
}

// Wait blocks until cond holds for the server's stats or ctx is done.
func (s *Server) Wait(ctx context.Context, cond func(Stats) bool) error {
	for {
		s.mu.Lock()
		st := s.stats
		st.Open = len(s.conns)
		ch := s.changed
		s.mu.Unlock()
		if cond(st) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait kickfake: %w (stats %+v)", ctx.Err(), st)
		case <-ch:
		}
	}
}

// IsSubscribed reports whether an open socket is subscribed to the chatroom.
func (s *Server) IsSubscribed(chatroomID int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.subscribedLocked(channelName(chatroomID))
}

func (s *Server) subscribedLocked(ch string) bool {
	for c := range s.conns {
		if _, ok := c.subs[ch]; ok {
			return true
		}
	}
	return false
}

// WaitSubscribed blocks until an open socket is subscribed to the chatroom.
func (s *Server) WaitSubscribed(ctx context.Context, chatroomID int64) error {
	return s.waitLocked(ctx, func() bool { return s.subscribedLocked(channelName(chatroomID)) })
}

// WaitUnsubscribed blocks until no open socket is subscribed to the chatroom.
func (s *Server) WaitUnsubscribed(ctx context.Context, chatroomID int64) error {
	return s.waitLocked(ctx, func() bool { return !s.subscribedLocked(channelName(chatroomID)) })
}

func (s *Server) waitLocked(ctx context.Context, cond func() bool) error {
	for {
		s.mu.Lock()
		ok := cond()
		ch := s.changed
		s.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait kickfake: %w", ctx.Err())
		case <-ch:
		}
	}
}

// notifyLocked wakes every waiter.
func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// RetireKey makes the server refuse every key from now on with 4001, as
// Pusher does for an app that no longer exists.
func (s *Server) RetireKey() {
	s.mu.Lock()
	s.key = ""
	s.mu.Unlock()
}

// Stall makes the server silent (no frames, no pongs, no handshakes) while on.
func (s *Server) Stall(on bool) {
	s.mu.Lock()
	s.stalled = on
	s.mu.Unlock()
}

// SetWriteDelay delays every frame the server writes by d (a slow server).
func (s *Server) SetWriteDelay(d time.Duration) {
	s.mu.Lock()
	s.delay = d
	s.mu.Unlock()
}

// Drop cuts every open socket at the TCP level, without a close frame (1006
// for the client). Sockets are forgotten before it returns.
func (s *Server) Drop() {
	for _, c := range s.detach() {
		c.drop()
	}
}

// CloseAll closes every open socket with code and reason (4100, 4001, 4009…).
// Sockets are forgotten before it returns.
func (s *Server) CloseAll(code int, reason string) {
	for _, c := range s.detach() {
		c.closeWith(code, reason)
	}
}

// ErrorAndClose sends pusher:error {code,message} (data as an object, as
// hosted Pusher does) and then closes with the same code — e.g. 4200 "Please
// reconnect immediately".
func (s *Server) ErrorAndClose(code int, message string) {
	data, _ := json.Marshal(map[string]any{"code": code, "message": message})
	frame := []byte(`{"event":"pusher:error","data":` + string(data) + `}`)
	for _, c := range s.detach() {
		c.send(frame, false)
		c.closeWith(code, message)
	}
}

// Ping sends a server pusher:ping to every open socket.
func (s *Server) Ping() { s.PublishRaw([]byte(`{"event":"pusher:ping","data":{}}`)) }

func (s *Server) detach() []*fconn {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*fconn, 0, len(s.conns))
	for c := range s.conns {
		out = append(out, c)
		delete(s.conns, c)
	}
	s.notifyLocked()
	return out
}

// hijackTracker keeps the raw connection so Drop can cut it.
type hijackTracker struct {
	http.ResponseWriter
	nc net.Conn
}

func (h *hijackTracker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := h.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, fmt.Errorf("kickfake: response writer cannot hijack")
	}
	nc, rw, err := hj.Hijack()
	h.nc = nc
	return nc, rw, err
}

func channelName(id int64) string { return fmt.Sprintf("chatrooms.%d.v2", id) }
