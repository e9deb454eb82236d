package kickfake

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// item is one entry of a socket's write queue.
type item struct {
	frame  []byte
	close  bool
	code   int
	reason string
}

// fconn is one client socket.
type fconn struct {
	s      *Server
	ws     *websocket.Conn
	nc     net.Conn
	out    chan item
	subs   map[string]struct{} // guarded by s.mu
	estab  sync.Once
	sockID string
}

func (s *Server) serveSocket(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("key")
	ht := &hijackTracker{ResponseWriter: w}
	ws, err := websocket.Accept(ht, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		s.log.Debug("accept", "error", err)
		return
	}
	defer ws.CloseNow()
	ws.SetReadLimit(64 << 10)

	s.mu.Lock()
	curKey := s.key
	s.nextSock++
	sockID := strconv.Itoa(s.socketTop+s.nextSock) + "." + strconv.Itoa(rand.IntN(10000000))
	s.mu.Unlock()
	if key != curKey {
		// Reference §2.5: the real message for an unknown key.
		ws.Close(4001, fmt.Sprintf("Could not find app by key %s. Perhaps you're connecting to the wrong cluster.", key))
		return
	}
	switch proto := r.URL.Query().Get("protocol"); {
	case proto == "":
		ws.Close(4008, "No protocol version supplied")
		return
	default:
		if p, err := strconv.Atoi(proto); err != nil || p < 5 || p > 7 {
			ws.Close(4007, "Unsupported protocol version")
			return
		}
	}

	c := &fconn{s: s, ws: ws, nc: ht.nc, out: make(chan item, queueLen), subs: map[string]struct{}{}, sockID: sockID}
	s.mu.Lock()
	s.conns[c] = struct{}{}
	s.stats.Connections++
	s.notifyLocked()
	s.mu.Unlock()

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() {
		cancel()
		ws.CloseNow()
		wg.Wait()
		s.mu.Lock()
		delete(s.conns, c)
		s.notifyLocked()
		s.mu.Unlock()
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.writeLoop(ctx)
	}()
	if s.o.PingEvery > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.pingLoop(ctx)
		}()
	}
	if !s.o.EstablishAfterSubscribe {
		c.establish()
	}
	for {
		_, b, err := ws.Read(ctx)
		if err != nil {
			return
		}
		c.handle(b)
	}
}

func (c *fconn) establish() {
	c.estab.Do(func() {
		data := fmt.Sprintf(`{"socket_id":"%s","activity_timeout":%d}`, c.sockID, c.s.o.ActivityTimeout)
		c.send(EncodeFrame("", "pusher:connection_established", []byte(data)), true)
	})
}

type clientFrame struct {
	Event string          `json:"event"`
	Data  json.RawMessage `json:"data"`
}

// handle acts on one client frame.
func (c *fconn) handle(b []byte) {
	s := c.s
	var f clientFrame
	if err := json.Unmarshal(b, &f); err != nil {
		s.count(func(st *Stats) { st.Other++ })
		return
	}
	switch f.Event {
	case "pusher:subscribe", "pusher:unsubscribe":
		var d struct {
			Channel string `json:"channel"`
		}
		raw := []byte(f.Data)
		var str string
		if json.Unmarshal(raw, &str) == nil { // some clients double-encode
			raw = []byte(str)
		}
		if json.Unmarshal(raw, &d) != nil || d.Channel == "" {
			s.count(func(st *Stats) { st.Other++ })
			return
		}
		if f.Event == "pusher:unsubscribe" {
			s.mu.Lock()
			delete(c.subs, d.Channel)
			s.stats.Unsubscribes++
			s.notifyLocked()
			s.mu.Unlock()
			return
		}
		c.establish() // a subscribe may come before connection_established
		s.mu.Lock()
		c.subs[d.Channel] = struct{}{}
		s.stats.Subscribes++
		s.mu.Unlock()
		c.send(EncodeFrame(d.Channel, "pusher_internal:subscription_succeeded", []byte("{}")), true)
		s.mu.Lock()
		s.notifyLocked()
		s.mu.Unlock()
	case "pusher:ping":
		s.count(func(st *Stats) { st.Pings++ })
		c.send([]byte(`{"event":"pusher:pong","data":"{}"}`), true)
	case "pusher:pong":
		s.count(func(st *Stats) { st.Pongs++ })
	default:
		s.count(func(st *Stats) { st.Other++ })
	}
}

func (s *Server) count(f func(*Stats)) {
	s.mu.Lock()
	f(&s.stats)
	s.notifyLocked()
	s.mu.Unlock()
}

// send queues a frame; while the server is stalled it is dropped when
// stallable. A socket whose queue is full is cut.
func (c *fconn) send(frame []byte, stallable bool) {
	c.s.mu.Lock()
	stalled := c.s.stalled
	c.s.mu.Unlock()
	if stalled && stallable {
		return
	}
	select {
	case c.out <- item{frame: frame}:
	default:
		c.drop()
	}
}

func (c *fconn) closeWith(code int, reason string) {
	select {
	case c.out <- item{close: true, code: code, reason: reason}:
	default:
		c.drop()
	}
}

func (c *fconn) drop() {
	if c.nc != nil {
		c.nc.Close()
		return
	}
	c.ws.CloseNow()
}

func (c *fconn) writeLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case it := <-c.out:
			c.s.mu.Lock()
			delay := c.s.delay
			c.s.mu.Unlock()
			if delay > 0 {
				t := time.NewTimer(delay)
				select {
				case <-ctx.Done():
					t.Stop()
					return
				case <-t.C:
				}
			}
			if it.close {
				c.ws.Close(websocket.StatusCode(it.code), it.reason)
				return
			}
			if err := c.ws.Write(ctx, websocket.MessageText, it.frame); err != nil {
				return
			}
		}
	}
}

func (c *fconn) pingLoop(ctx context.Context) {
	t := time.NewTicker(c.s.o.PingEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			c.send([]byte(`{"event":"pusher:ping","data":{}}`), true)
		}
	}
}

// chatroomOf parses chatrooms.{id}.v2.
func chatroomOf(channel string) (int64, bool) {
	rest, ok := strings.CutPrefix(channel, "chatrooms.")
	if !ok {
		return 0, false
	}
	rest, ok = strings.CutSuffix(rest, ".v2")
	if !ok {
		return 0, false
	}
	id, err := strconv.ParseInt(rest, 10, 64)
	return id, err == nil && id > 0
}
