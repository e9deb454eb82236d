package centrifugo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/coder/websocket"
)

// inMsg is one WebSocket message handed from the reader to the session loop.
type inMsg struct {
	buf       *bytes.Buffer
	oversized bool
	binary    bool
}

// readError turns what ended the read side into the session's error: a
// close frame becomes a *DisconnectError with the server's code.
func readError(err error) error {
	if code := websocket.CloseStatus(err); code != -1 {
		var ce websocket.CloseError
		errors.As(err, &ce)
		return &DisconnectError{Code: int(code), Reason: ce.Reason}
	}
	return fmt.Errorf("read centrifugo: %w", err)
}

// readLoop reads messages, has pings answered at once (so a slow handler
// cannot starve the keepalive) and hands the rest to the session loop. It
// never writes: with both peers blocked writing, nobody would read.
func (s *session) readLoop(ctx context.Context) {
	limit := s.c.cfg.ReadLimit
	for {
		typ, r, err := s.conn.Reader(ctx)
		if err != nil {
			s.readErr <- err
			return
		}
		var buf *bytes.Buffer
		select {
		case buf = <-s.free:
			buf.Reset()
		default:
			buf = new(bytes.Buffer)
		}
		if _, err := buf.ReadFrom(io.LimitReader(r, limit+1)); err != nil {
			s.readErr <- err
			return
		}
		m := inMsg{buf: buf, binary: typ != websocket.MessageText}
		if int64(buf.Len()) > limit {
			m.oversized = true
			if _, err := io.Copy(io.Discard, r); err != nil {
				s.readErr <- err
				return
			}
		}
		s.lastFrame.Store(time.Now().UnixNano())
		if !m.oversized && !m.binary {
			pings, others := countPings(buf.Bytes())
			if pings > 0 && s.pong.Load() {
				select { // the pong writer answers; one pong covers several pings
				case s.pongs <- struct{}{}:
				default:
				}
			}
			if !others { // nothing for the session loop
				s.recycle(buf)
				continue
			}
		}
		select {
		case s.msgs <- m:
		case <-ctx.Done():
			return
		}
	}
}

// countPings counts the ping lines of a message and reports whether it
// holds any other line.
func countPings(b []byte) (pings int, others bool) {
	for len(b) > 0 {
		var line []byte
		line, b = nextLine(b)
		switch {
		case len(line) == 0:
		case isPing(line):
			pings++
		default:
			others = true
		}
	}
	return pings, others
}

// maxPooled is the largest buffer kept for reuse: a chat batch is a few
// KiB; an occasional big message should not pin ReadLimit bytes per buffer.
const maxPooled = 64 << 10

// recycle keeps buf for the next message, unless the pool is full or buf
// grew large.
func (s *session) recycle(buf *bytes.Buffer) {
	if buf.Cap() > maxPooled {
		return
	}
	select {
	case s.free <- buf:
	default:
	}
}

// pongLoop answers the server's pings. It is its own goroutine so that
// neither a slow handler (the session loop) nor a blocked write can stop the
// socket from being read.
func (s *session) pongLoop(ctx context.Context) {
	for {
		select {
		case <-s.pongs:
		case <-ctx.Done():
			return
		}
		wctx, cancel := context.WithTimeout(ctx, s.c.cfg.WriteTimeout)
		err := s.conn.Write(wctx, websocket.MessageText, pingLine)
		cancel()
		if err != nil {
			return // the reader sees the broken connection
		}
	}
}
