package centrifugo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"kickwatch/pipeline"
)

// Errors that end a session.
var (
	ErrTokenExpired = errors.New("connection token expired (error 109)")
	ErrSilent       = errors.New("no frame from the server for the ping interval and grace")
)

// DisconnectError is a close (or push.disconnect) from the server.
type DisconnectError struct {
	Code   int
	Reason string
}

// Error names the code, its reason and whether it is terminal.
func (e *DisconnectError) Error() string {
	kind := "reconnect"
	if e.Terminal() {
		kind = "terminal"
	}
	return fmt.Sprintf("server closed the connection: %d %q (%s)", e.Code, truncate(e.Reason, 123), kind)
}

// Terminal reports whether the server would refuse the same client again
// right away: 3500–3999 and 4500–4999 (reference §4.7).
func (e *DisconnectError) Terminal() bool { return terminalCode(e.Code) }

func terminalCode(code int) bool {
	return code >= 3500 && code <= 3999 || code >= 4500 && code <= 4999
}

// session is one connection: it owns the subscription state and every timer.
type session struct {
	c        *Client
	h        pipeline.Handler
	conn     *websocket.Conn
	clientID string
	healthy  func()

	nextID    uint32
	pending   map[uint32]pendingCmd
	subs      map[int64]*sub // by chatroom id
	connected bool
	isHealthy bool
	ping      time.Duration
	expiresAt time.Time // zero when the token does not expire

	pong      atomic.Bool
	lastFrame atomic.Int64  // unix nanoseconds of the last message read
	pongs     chan struct{} // capacity 1: the server pinged, answer {}
	msgs      chan inMsg
	free      chan *bytes.Buffer
	readErr   chan error
	refreshed chan tokenResult
	refreshOn bool // a token fetch is in flight

	watchdog, connectTimer, refreshTimer, retryTimer *time.Timer
	end                                              *outcome
}

type pendingKind int

const (
	cmdConnect pendingKind = iota
	cmdSubscribe
	cmdUnsubscribe
	cmdRefresh
)

type pendingCmd struct {
	kind     pendingKind
	chatroom int64
}

type tokenResult struct {
	token string
	err   error
}

// session dials url and runs one connection until it ends.
func (c *Client) session(ctx context.Context, h pipeline.Handler, url, clientID, token string, healthy func()) outcome {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	dctx, dcancel := context.WithTimeout(ctx, c.cfg.ConnectTimeout)
	hdr := http.Header{}
	hdr.Set("Origin", c.cfg.Origin)
	hdr.Set("User-Agent", c.cfg.UserAgent)
	conn, resp, err := websocket.Dial(dctx, url, &websocket.DialOptions{HTTPClient: c.cfg.HTTPClient, HTTPHeader: hdr})
	dcancel()
	if err != nil {
		if resp != nil {
			return outcome{err: fmt.Errorf("dial centrifugo: HTTP %d", resp.StatusCode), refused: resp.StatusCode == http.StatusForbidden}
		}
		return outcome{err: fmt.Errorf("dial centrifugo: %w", stripURL(err))}
	}
	defer conn.CloseNow()
	conn.SetReadLimit(-1) // the reader enforces ReadLimit itself, skipping instead of closing

	s := &session{
		c: c, h: h, conn: conn, clientID: clientID, healthy: healthy,
		pending:   map[uint32]pendingCmd{},
		subs:      map[int64]*sub{},
		msgs:      make(chan inMsg, 4),
		free:      make(chan *bytes.Buffer, 4),
		readErr:   make(chan error, 1),
		refreshed: make(chan tokenResult, 1),
		pongs:     make(chan struct{}, 1),
	}
	s.pong.Store(true)
	s.lastFrame.Store(time.Now().UnixNano())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel() // runs before wg.Wait: stops the reader and a token fetch
	wg.Go(func() { s.readLoop(ctx) })
	wg.Go(func() { s.pongLoop(ctx) })

	o := s.run(ctx, token, &wg)
	if o.err != nil && ctx.Err() == nil {
		if de := (*DisconnectError)(nil); errors.As(o.err, &de) {
			o.terminal = de.Terminal()
		}
	}
	o.healthy = s.isHealthy
	if s.connected {
		for id := range s.subs {
			h.ChannelState(Source, id, pipeline.ChannelPending, nil)
		}
	}
	if ctx.Err() != nil {
		_ = conn.Close(websocket.StatusNormalClosure, "")
	}
	return o
}

func (s *session) run(ctx context.Context, token string, wg *sync.WaitGroup) outcome {
	s.connectTimer = time.NewTimer(s.c.cfg.ConnectTimeout)
	s.watchdog = time.NewTimer(time.Hour)
	s.watchdog.Stop()
	s.refreshTimer = time.NewTimer(time.Hour)
	s.refreshTimer.Stop()
	s.retryTimer = time.NewTimer(time.Hour)
	s.retryTimer.Stop()
	defer func() {
		s.connectTimer.Stop()
		s.watchdog.Stop()
		s.refreshTimer.Stop()
		s.retryTimer.Stop()
	}()
	s.pending[s.id()] = pendingCmd{kind: cmdConnect}
	s.send(ctx, appendCommand(nil, command{ID: s.nextID, Connect: &connectRequest{Token: token, Name: "js"}}))
	for s.end == nil {
		select {
		case m := <-s.msgs:
			s.handleMsg(ctx, m)
		case err := <-s.readErr:
			s.finish(readError(err))
		case <-s.connectTimer.C:
			s.finish(errors.New("no connect reply within the connect timeout"))
		case <-s.watchdog.C:
			s.checkSilence()
		case <-s.refreshTimer.C:
			s.startRefresh(ctx, wg)
		case r := <-s.refreshed:
			s.finishRefresh(ctx, r)
		case <-s.retryTimer.C:
			s.retryChannels(ctx)
		case <-s.c.changed:
			if s.connected {
				s.syncChannels(ctx)
			}
		case <-ctx.Done():
			s.finish(ctx.Err())
		}
	}
	return *s.end
}

func (s *session) id() uint32 {
	s.nextID++
	return s.nextID
}

func (s *session) finish(err error) {
	if s.end == nil {
		s.end = &outcome{err: err}
	}
}

// send writes one frame; a failed write ends the session.
func (s *session) send(ctx context.Context, b []byte) {
	if len(b) == 0 || s.end != nil {
		return
	}
	wctx, cancel := context.WithTimeout(ctx, s.c.cfg.WriteTimeout)
	defer cancel()
	if err := s.conn.Write(wctx, websocket.MessageText, b); err != nil {
		s.finish(fmt.Errorf("write centrifugo: %w", err))
	}
}

// checkSilence ends the session when nothing was read for ping + grace.
func (s *session) checkSilence() {
	limit := s.ping + s.c.cfg.PingGrace
	idle := time.Since(time.Unix(0, s.lastFrame.Load()))
	if idle >= limit {
		s.finish(ErrSilent)
		return
	}
	s.watchdog.Reset(limit - idle)
}

func (s *session) handleMsg(ctx context.Context, m inMsg) {
	defer s.recycle(m.buf)
	b := m.buf.Bytes()
	switch {
	case m.oversized:
		s.h.Malformed(Source, "oversized", b[:min(len(b), 256)])
		return
	case m.binary:
		s.h.Malformed(Source, "type", b[:min(len(b), 256)])
		return
	}
	for len(b) > 0 && s.end == nil {
		var line []byte
		line, b = nextLine(b)
		if len(line) == 0 || isPing(line) {
			continue
		}
		if bytes.Contains(line, []byte(`"pub"`)) && s.h.Prefilter(line) {
			continue // fast path: a chat message that cannot match
		}
		s.handleLine(ctx, line)
	}
}

func (s *session) handleLine(ctx context.Context, line []byte) {
	f, err := parseLine(line)
	if err != nil {
		s.malformed(err, line)
		return
	}
	if f.ID != 0 {
		s.handleReply(ctx, f)
		return
	}
	s.handlePush(ctx, f.Push, line)
}

func (s *session) malformed(err error, sample []byte) {
	reason := "json"
	if de := (*decodeError)(nil); errors.As(err, &de) {
		reason = de.reason
	}
	s.h.Malformed(Source, reason, sample)
}

func (s *session) handleReply(ctx context.Context, f frame) {
	cmd, ok := s.pending[f.ID]
	if !ok {
		return // a reply we no longer wait for
	}
	delete(s.pending, f.ID)
	switch cmd.kind {
	case cmdConnect:
		s.onConnect(ctx, f)
	case cmdSubscribe:
		s.onSubscribe(cmd.chatroom, f.Error)
	case cmdRefresh:
		s.onRefresh(f)
	}
}

func (s *session) onConnect(ctx context.Context, f frame) {
	s.connectTimer.Stop()
	if f.Error != nil {
		if f.Error.Code == codeTokenExpired {
			s.finish(ErrTokenExpired)
		} else {
			s.finish(fmt.Errorf("connect refused: %w", f.Error))
		}
		return
	}
	if f.Connect == nil {
		s.finish(errors.New("connect reply without a result"))
		return
	}
	r := f.Connect
	s.connected = true
	s.pong.Store(r.Pong)
	s.ping = s.c.cfg.PingInterval
	if r.Ping > 0 {
		s.ping = time.Duration(r.Ping) * time.Second
	}
	s.watchdog.Reset(s.ping + s.c.cfg.PingGrace)
	s.scheduleRefresh(r.Expires, r.TTL)
	s.c.log.Info("centrifugo connected", "version", truncate(r.Version, 64), "ping", s.ping, "ttl", time.Duration(r.TTL)*time.Second)
	s.h.Connected(Source, true, nil)
	s.syncChannels(ctx)
	if len(s.subs) == 0 {
		s.markHealthy() // nothing to subscribe: connected is as good as it gets
	}
}

func (s *session) markHealthy() {
	if !s.isHealthy {
		s.isHealthy = true
		s.healthy()
	}
}

func (s *session) handlePush(ctx context.Context, p *push, line []byte) {
	switch {
	case p.Pub != nil:
		s.onPublication(p.Channel, p.Pub, line)
	case p.Unsubscribe != nil:
		s.onUnsubscribePush(ctx, p.Channel, p.Unsubscribe)
	case p.Disconnect != nil:
		// Over WebSocket the server says this in the close frame; other
		// transports (and some clients' fakes) send the push. Same meaning.
		s.finish(&DisconnectError{Code: int(p.Disconnect.Code), Reason: p.Disconnect.Reason})
	}
	// join, leave, message, subscribe, connect, refresh pushes carry no chat.
}

func (s *session) onPublication(channel string, pub *publication, line []byte) {
	id, ok := parseChannel(channel)
	if !ok {
		s.h.Malformed(Source, "channel", line)
		return
	}
	if _, ok := s.subs[id]; !ok {
		return // a channel just unsubscribed
	}
	name, data, err := decodeEvent(pub.Data)
	if err != nil {
		s.malformed(err, line)
		return
	}
	s.h.HandleEvent(pipeline.Event{Source: Source, ChatroomID: id, Name: name, Data: data, Received: s.c.cfg.Now()})
}
