package kick

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"kickwatch/pipeline"
)

var (
	errPongTimeout = errors.New("no frame after ping (pong timeout)")
	pingFrame      = []byte(`{"event":"pusher:ping","data":{}}`)
	pongFrame      = []byte(`{"event":"pusher:pong","data":{}}`)
)

// resyncEvery retries subscriptions the server refused.
const resyncEvery = 30 * time.Second

// sampleBytes is how much of a bad frame is handed to Handler.Malformed.
const sampleBytes = 256

// sessionResult is how one connection ended.
type sessionResult struct {
	established bool
	uptime      time.Duration
	err         error
	code        int // close code (or pusher:error code when the close had none); -1 if none
	reason      string
}

// session is one socket's life.
type session struct {
	t    *Transport
	conn *websocket.Conn
	h    pipeline.Handler
	base time.Time // monotonic origin for lastFrame

	lastFrame   atomic.Int64 // nanoseconds since base of the last frame read
	idle        atomic.Int64 // ping after this much silence (ns)
	established chan struct{}
	pong        chan struct{} // cap 1: the server pinged us
	cause       atomic.Pointer[error]

	mu   sync.Mutex
	subs map[int64]bool // chatroom id → confirmed, for the channels subscribed on this socket

	pusherCode   int
	pusherReason string
}

func (s *session) since() int64 { return int64(time.Since(s.base)) }

// fail records why the session must end and closes the socket.
func (s *session) fail(err error) {
	s.cause.CompareAndSwap(nil, &err)
	s.conn.CloseNow()
}

func (t *Transport) session(ctx context.Context, h pipeline.Handler, onUp func()) sessionResult {
	res := sessionResult{code: -1}
	dialCtx, cancel := context.WithTimeout(ctx, t.o.ConnectTimeout)
	conn, _, err := websocket.Dial(dialCtx, t.o.URL, &websocket.DialOptions{
		HTTPClient: t.o.HTTPClient,
		HTTPHeader: t.o.Header,
	})
	cancel()
	if err != nil {
		res.err = fmt.Errorf("dial pusher: %w", err)
		return res
	}
	defer conn.CloseNow()
	conn.SetReadLimit(t.o.HardFrameBytes)

	s := &session{
		t: t, conn: conn, h: h, base: time.Now(),
		established: make(chan struct{}),
		pong:        make(chan struct{}, 1),
		subs:        map[int64]bool{},
	}
	s.idle.Store(int64(t.o.PingInterval))

	readCtx, stopRead := context.WithCancel(context.WithoutCancel(ctx))
	defer stopRead()
	ctrlDone := make(chan struct{})
	readDone := make(chan struct{})
	go func() {
		defer close(ctrlDone)
		s.control(ctx, readDone)
	}()

	var upAt time.Time
	rerr := s.read(readCtx, func() {
		upAt = time.Now()
		res.established = true
		onUp()
	})
	close(readDone)
	<-ctrlDone

	if !upAt.IsZero() {
		res.uptime = time.Since(upAt)
	}
	if p := s.cause.Load(); p != nil {
		res.err = *p
	} else {
		res.err = rerr
	}
	res.code, res.reason = closeStatus(rerr)
	if res.code < 0 && s.pusherCode >= 4000 {
		res.code, res.reason = s.pusherCode, s.pusherReason
	}
	// Every confirmed channel is pending again until the next socket confirms it.
	s.mu.Lock()
	var confirmed []int64
	for id, ok := range s.subs {
		if ok {
			confirmed = append(confirmed, id)
		}
	}
	s.mu.Unlock()
	why := res.err
	if ctx.Err() != nil {
		why = nil // shutting down: nothing went wrong
	}
	for _, id := range confirmed {
		h.ChannelState(Source, id, pipeline.ChannelPending, why)
	}
	return res
}

// control owns the socket's writes: subscriptions, keepalive pings, pongs and
// the closing handshake on shutdown.
func (s *session) control(ctx context.Context, readDone <-chan struct{}) {
	t := s.t
	if t.o.SubscribeEarly {
		s.sync(ctx)
	}
	idle := time.Duration(s.idle.Load())
	timer := time.NewTimer(idle)
	defer timer.Stop()
	resync := time.NewTicker(resyncEvery)
	defer resync.Stop()
	established := s.established
	var pingAt int64 = -1 // since() when the pending ping was sent
	for {
		select {
		case <-readDone:
			return
		case <-ctx.Done():
			// Closing handshake; the reader sees the close and returns.
			s.conn.Close(websocket.StatusNormalClosure, "")
			<-readDone
			return
		case <-established:
			established = nil
			idle = time.Duration(s.idle.Load())
			timer.Reset(idle)
			s.sync(ctx)
		case <-t.changed:
			if established == nil || t.o.SubscribeEarly {
				s.sync(ctx)
			}
		case <-resync.C:
			if established == nil || t.o.SubscribeEarly {
				s.sync(ctx)
			}
		case <-s.pong:
			if !s.write(ctx, pongFrame) {
				return
			}
		case <-timer.C:
			last := s.lastFrame.Load()
			now := s.since()
			if pingAt >= 0 {
				if last <= pingAt {
					t.log.Debug("pong timeout; dropping connection", "waited", t.o.PongTimeout)
					s.fail(errPongTimeout)
					return
				}
				pingAt = -1
			}
			if quiet := time.Duration(now - last); quiet < idle {
				timer.Reset(idle - quiet)
				continue
			}
			pingAt = s.since() // before writing: the pong can beat the write's return
			if !s.write(ctx, pingFrame) {
				return
			}
			timer.Reset(t.o.PongTimeout)
		}
	}
}

func (s *session) write(ctx context.Context, frame []byte) bool {
	wctx, cancel := context.WithTimeout(ctx, s.t.o.WriteTimeout)
	defer cancel()
	if err := s.conn.Write(wctx, websocket.MessageText, frame); err != nil {
		if ctx.Err() == nil {
			s.fail(fmt.Errorf("write pusher frame: %w", err))
		}
		return false
	}
	return true
}

// sync subscribes and unsubscribes so the socket carries exactly the wanted channels.
func (s *session) sync(ctx context.Context) {
	want := s.t.wanted()
	wantSet := make(map[int64]struct{}, len(want))
	var sub, unsub []int64
	s.mu.Lock()
	for _, id := range want {
		wantSet[id] = struct{}{}
		if _, ok := s.subs[id]; !ok {
			s.subs[id] = false
			sub = append(sub, id)
		}
	}
	for id := range s.subs {
		if _, ok := wantSet[id]; !ok {
			delete(s.subs, id)
			unsub = append(unsub, id)
		}
	}
	s.mu.Unlock()
	for _, id := range sub {
		if !s.write(ctx, subscribeFrame("pusher:subscribe", id)) {
			return
		}
		s.t.log.Debug("subscribing", "chatroom_id", id)
	}
	for _, id := range unsub {
		if !s.write(ctx, subscribeFrame("pusher:unsubscribe", id)) {
			return
		}
		s.t.log.Debug("unsubscribed", "chatroom_id", id)
	}
}

func subscribeFrame(event string, id int64) []byte {
	b := make([]byte, 0, 96)
	b = append(b, `{"event":"`...)
	b = append(b, event...)
	b = append(b, `","data":{"auth":"","channel":"`...)
	b = append(b, ChannelName(id)...)
	return append(b, `"}}`...)
}

// read is the read loop: it returns the error that ended the socket.
func (s *session) read(ctx context.Context, onUp func()) error {
	var dec Decoder
	buf := make([]byte, 0, 4096)
	maxBytes := s.t.o.MaxFrameBytes
	for {
		typ, r, err := s.conn.Reader(ctx)
		if err != nil {
			return err
		}
		s.lastFrame.Store(s.since())
		var over bool
		if cap(buf) > 64<<10 {
			buf = make([]byte, 0, 4096) // do not keep a big buffer after one big frame
		}
		buf, over, err = readMsg(r, buf, maxBytes)
		if err != nil {
			return err
		}
		s.lastFrame.Store(s.since())
		switch {
		case typ != websocket.MessageText:
			s.h.Malformed(Source, ReasonBinary, sample(buf))
			continue
		case over:
			s.h.Malformed(Source, ReasonOversized, sample(buf))
			continue
		}
		if s.h.Prefilter(buf) {
			continue
		}
		f, err := dec.Decode(buf)
		if err != nil {
			reason := ReasonJSON
			var fe *FrameError
			if errors.As(err, &fe) {
				reason = fe.Reason
			}
			s.h.Malformed(Source, reason, sample(buf))
			continue
		}
		s.handle(&f, buf, onUp)
	}
}

func sample(b []byte) []byte { return b[:min(len(b), sampleBytes)] }

// readMsg reads one message into buf (reused). A message over maxBytes is
// read to its end and discarded; over reports it, buf then holds its start.
func readMsg(r io.Reader, buf []byte, maxBytes int64) ([]byte, bool, error) {
	buf = buf[:0]
	for {
		if len(buf) == cap(buf) {
			if int64(len(buf)) > maxBytes {
				if _, err := io.Copy(io.Discard, r); err != nil {
					return buf, true, err
				}
				return buf, true, nil
			}
			n := min(int64(2*cap(buf))+512, maxBytes+1)
			nb := make([]byte, len(buf), n)
			copy(nb, buf)
			buf = nb
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, int64(len(buf)) > maxBytes, nil
		}
		if err != nil {
			return buf, false, err
		}
	}
}

type handshake struct {
	SocketID        string `json:"socket_id"`
	ActivityTimeout *int   `json:"activity_timeout"`
}

type pusherError struct {
	Code    *int   `json:"code"`
	Message string `json:"message"`
}

// handle acts on one decoded frame.
func (s *session) handle(f *Frame, raw []byte, onUp func()) {
	switch f.Event {
	case eventConnEstablished:
		var hs handshake
		if err := json.Unmarshal(f.Data, &hs); err != nil {
			s.h.Malformed(Source, ReasonType, sample(raw))
		}
		if hs.ActivityTimeout != nil && *hs.ActivityTimeout > 0 {
			at := time.Duration(*hs.ActivityTimeout) * time.Second
			s.idle.Store(int64(min(at, s.t.o.PingInterval)))
		}
		select {
		case <-s.established:
			return // a second handshake on one socket: ignore
		default:
		}
		s.t.log.Debug("pusher connection established", "socket_id", hs.SocketID, "activity_timeout_s", derefInt(hs.ActivityTimeout))
		close(s.established)
		onUp()
	case eventSubSucceeded:
		id, ok := ChatroomID(f.Channel)
		if !ok {
			return
		}
		s.mu.Lock()
		_, mine := s.subs[id]
		if mine {
			s.subs[id] = true
		}
		s.mu.Unlock()
		if mine {
			s.h.ChannelState(Source, id, pipeline.ChannelSubscribed, nil)
		}
	case eventSubError:
		id, ok := ChatroomID(f.Channel)
		if !ok {
			return
		}
		s.mu.Lock()
		delete(s.subs, id) // the resync ticker tries again
		s.mu.Unlock()
		s.h.ChannelState(Source, id, pipeline.ChannelFailed, fmt.Errorf("subscribe %s: %s", f.Channel, f.Data))
	case eventPing:
		select {
		case s.pong <- struct{}{}:
		default:
		}
	case eventPong:
	case eventError:
		var pe pusherError
		if err := json.Unmarshal(f.Data, &pe); err != nil {
			s.h.Malformed(Source, ReasonType, sample(raw))
			return
		}
		code := 0
		if pe.Code != nil {
			code = *pe.Code
		}
		s.t.log.Warn("pusher error", "code", code, "message", pe.Message)
		if code >= 4000 {
			s.pusherCode, s.pusherReason = code, pe.Message
		}
	default:
		s.channelEvent(f, raw)
	}
}

func (s *session) channelEvent(f *Frame, raw []byte) {
	if f.Channel == nil {
		if len(f.Event) > 7 && (f.Event[:7] == "pusher:" || f.Event[:7] == "pusher_") {
			return // another protocol event; nothing to do
		}
		s.h.Malformed(Source, ReasonType, sample(raw))
		return
	}
	id, ok := ChatroomID(f.Channel)
	if !ok {
		s.h.Malformed(Source, ReasonChannel, sample(raw))
		return
	}
	s.mu.Lock()
	_, mine := s.subs[id]
	s.mu.Unlock()
	if !mine {
		s.h.Malformed(Source, ReasonUnsubscribed, sample(raw))
		return
	}
	if !isObject(f.Data) {
		s.h.Malformed(Source, ReasonType, sample(raw))
		return
	}
	s.h.HandleEvent(pipeline.Event{
		Source:     Source,
		ChatroomID: id,
		Name:       f.Event,
		Data:       f.Data,
		Received:   s.t.o.Now(),
	})
}

// isObject reports whether b looks like a JSON object (the event parser validates it).
func isObject(b []byte) bool {
	i, j := 0, len(b)-1
	for i <= j && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	for j >= i && (b[j] == ' ' || b[j] == '\t' || b[j] == '\n' || b[j] == '\r') {
		j--
	}
	return i < j && b[i] == '{' && b[j] == '}'
}

// derefInt is *p, or 0 when p is nil (for logs).
func derefInt(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}
