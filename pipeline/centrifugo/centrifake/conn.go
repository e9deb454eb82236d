package centrifake

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// Command is one command line the client sent, as the fake understood it.
type Command struct {
	ID      uint32
	Method  string // connect, subscribe, unsubscribe, refresh, pong, unknown
	Token   string // connect, refresh
	Name    string // connect
	Channel string // subscribe, unsubscribe
	Flag    int    // subscribe
	Raw     []byte // the line as sent
	Message int    // sequence number of the WebSocket message it came in (batched lines share it)
}

// Conn is one client connection on the fake.
type Conn struct {
	Origin    string // the handshake's Origin header
	UserAgent string // the handshake's User-Agent header

	srv  *Server
	ws   *websocket.Conn
	done chan struct{}

	mu       sync.Mutex
	subs     map[string]bool
	clientID string
	cmds     []Command     // every command, in order
	unread   []Command     // not yet taken by NextCommand
	added    chan struct{} // closed and replaced when a command arrives
}

func newConn(s *Server, ws *websocket.Conn, r *http.Request) *Conn {
	return &Conn{
		Origin: r.Header.Get("Origin"), UserAgent: r.Header.Get("User-Agent"),
		srv: s, ws: ws, done: make(chan struct{}), subs: map[string]bool{}, added: make(chan struct{}),
	}
}

// ErrEnded is returned by NextCommand when the connection ended without
// the command.
var ErrEnded = errors.New("centrifake: connection ended")

// Commands returns every command the client sent so far, in order.
func (c *Conn) Commands() []Command {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.cmds)
}

// NextCommand takes the first command of method ("" for any) that no
// earlier NextCommand took, waiting for it until ctx is done or the
// connection ends. Commands of other methods stay for later calls.
func (c *Conn) NextCommand(ctx context.Context, method string) (Command, error) {
	for {
		c.mu.Lock()
		for i, cmd := range c.unread {
			if method == "" || cmd.Method == method {
				c.unread = slices.Delete(c.unread, i, i+1)
				c.mu.Unlock()
				return cmd, nil
			}
		}
		added := c.added
		c.mu.Unlock()
		select {
		case <-added:
		case <-c.done:
			select {
			case <-added: // look once more: it may have come just before the end
			default:
				return Command{}, ErrEnded
			}
		case <-ctx.Done():
			return Command{}, ctx.Err()
		}
	}
}

func (c *Conn) record(cmd Command) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cmds = append(c.cmds, cmd)
	c.unread = append(c.unread, cmd)
	close(c.added)
	c.added = make(chan struct{})
}

// Done is closed when the connection has ended.
func (c *Conn) Done() <-chan struct{} { return c.done }

// ClientID is the client id the connect reply gave, empty before.
func (c *Conn) ClientID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.clientID
}

// Subscribed reports whether the client holds a subscription to channel.
func (c *Conn) Subscribed(channel string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.subs[channel]
}

// Subscriptions lists the channels the client is subscribed to, sorted.
func (c *Conn) Subscriptions() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for ch := range c.subs {
		out = append(out, ch)
	}
	slices.Sort(out)
	return out
}

// Send writes raw as one WebSocket text message (lines joined by '\n').
func (c *Conn) Send(lines ...[]byte) error {
	return c.ws.Write(context.Background(), websocket.MessageText, bytes.Join(lines, []byte("\n")))
}

// SendBinary writes raw as one WebSocket binary message.
func (c *Conn) SendBinary(b []byte) error {
	return c.ws.Write(context.Background(), websocket.MessageBinary, b)
}

// Publish sends one Kick event on channel (data as a JSON string).
func (c *Conn) Publish(channel, event string, data []byte) error {
	return c.Send(PubFrame(channel, event, data, false))
}

// Unsubscribe drops the client's subscription server-side and pushes
// {"push":{"channel":…,"unsubscribe":{"code":…,"reason":…}}}.
func (c *Conn) Unsubscribe(channel string, code uint32, reason string) error {
	c.mu.Lock()
	delete(c.subs, channel)
	c.mu.Unlock()
	b, _ := json.Marshal(map[string]any{"push": map[string]any{"channel": channel,
		"unsubscribe": map[string]any{"code": code, "reason": reason}}})
	return c.Send(b)
}

// Disconnect closes the connection with a close frame (how Centrifugo's
// WebSocket transport disconnects).
func (c *Conn) Disconnect(code int, reason string) {
	_ = c.ws.Close(websocket.StatusCode(code), reason)
}

// DisconnectPush sends a push.disconnect frame (other transports' way),
// then closes with the same code.
func (c *Conn) DisconnectPush(code int, reason string) {
	b, _ := json.Marshal(map[string]any{"push": map[string]any{"disconnect": map[string]any{
		"code": code, "reason": reason, "reconnect": code < 3500 || code >= 4000 && code < 4500}}})
	_ = c.Send(b)
	c.Disconnect(code, reason)
}

type wireCommand struct {
	ID      uint32 `json:"id"`
	Connect *struct {
		Token string `json:"token"`
		Name  string `json:"name"`
	} `json:"connect"`
	Subscribe *struct {
		Channel string `json:"channel"`
		Flag    int    `json:"flag"`
	} `json:"subscribe"`
	Unsubscribe *struct {
		Channel string `json:"channel"`
	} `json:"unsubscribe"`
	Refresh *struct {
		Token string `json:"token"`
	} `json:"refresh"`
}

// serve runs the connection: commands, pings, pong checks, expiry, staleness.
func (c *Conn) serve(ctx context.Context) {
	defer close(c.done)
	defer c.ws.CloseNow()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	msgs := make(chan []byte, 256) // keep reading while serve writes: net.Pipe has no buffer
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		for {
			_, b, err := c.ws.Read(ctx)
			if err != nil {
				return
			}
			select {
			case msgs <- b:
			case <-ctx.Done():
				return
			}
		}
	}()
	defer func() { <-readDone }()
	defer cancel()

	o := c.srv.opts
	st := &connState{c: c, msgSeq: 0, ping: stopped(), pong: stopped(), expire: stopped(), stale: time.NewTimer(o.StaleCloseDelay)}
	defer st.stopAll()
	for {
		select {
		case b := <-msgs:
			if !st.handle(ctx, b) {
				return
			}
		case <-st.stale.C:
			c.Disconnect(3502, "stale")
			return
		case <-st.ping.C:
			st.pingSent = time.Now()
			if err := c.ws.Write(ctx, websocket.MessageText, []byte("{}")); err != nil {
				return
			}
			if o.PongTimeout > 0 {
				st.pong.Reset(o.PongTimeout)
			}
			st.ping.Reset(o.PingInterval)
		case <-st.pong.C:
			if st.lastPong.Before(st.pingSent) {
				c.Disconnect(3012, "no pong")
				return
			}
		case <-st.expire.C:
			c.Disconnect(3005, "connection expired")
			return
		case <-readDone:
			return
		case <-ctx.Done():
			return
		}
	}
}

type connState struct {
	c                         *Conn
	connected                 bool
	msgSeq                    int
	ping, pong, expire, stale *time.Timer
	pingSent, lastPong        time.Time
}

func stopped() *time.Timer {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return t
}

func (st *connState) stopAll() {
	for _, t := range []*time.Timer{st.ping, st.pong, st.expire, st.stale} {
		t.Stop()
	}
}

// handle processes one message of command lines and writes the replies as
// one batched frame. It returns false when the connection was closed.
func (st *connState) handle(ctx context.Context, b []byte) bool {
	c, o := st.c, st.c.srv.opts
	st.msgSeq++
	var replies [][]byte
	reply := func(v any) {
		out, _ := json.Marshal(v)
		replies = append(replies, out)
	}
	flush := func() {
		if len(replies) > 0 {
			_ = c.ws.Write(ctx, websocket.MessageText, bytes.Join(replies, []byte("\n")))
			replies = nil
		}
	}
	closeWith := func(code int, reason string) bool {
		flush()
		c.Disconnect(code, reason)
		return false
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		var w wireCommand
		if err := json.Unmarshal(line, &w); err != nil {
			return closeWith(3501, "bad request")
		}
		cmd := Command{ID: w.ID, Raw: slices.Clone(line), Method: "unknown", Message: st.msgSeq}
		switch {
		case w.Connect != nil:
			cmd.Method, cmd.Token, cmd.Name = "connect", w.Connect.Token, w.Connect.Name
		case w.Subscribe != nil:
			cmd.Method, cmd.Channel, cmd.Flag = "subscribe", w.Subscribe.Channel, w.Subscribe.Flag
		case w.Unsubscribe != nil:
			cmd.Method, cmd.Channel = "unsubscribe", w.Unsubscribe.Channel
		case w.Refresh != nil:
			cmd.Method, cmd.Token = "refresh", w.Refresh.Token
		case w.ID == 0:
			cmd.Method = "pong"
		}
		c.record(cmd)
		if !st.connected && cmd.Method != "connect" {
			return closeWith(3501, "bad request")
		}
		errReply := func(err error) bool {
			var re *ReplyError
			var ce *Close
			switch {
			case errors.As(err, &ce):
				return closeWith(ce.Code, ce.Reason)
			case errors.As(err, &re):
				reply(map[string]any{"id": cmd.ID, "error": re})
			default:
				reply(map[string]any{"id": cmd.ID, "error": &ReplyError{Code: 100, Message: "internal server error"}})
			}
			return true
		}
		switch cmd.Method {
		case "pong":
			st.lastPong = time.Now()
		case "connect":
			if st.connected {
				return closeWith(3501, "bad request")
			}
			if err := st.authorize(cmd.Token, false); err != nil {
				if !errReply(err) {
					return false
				}
				continue
			}
			st.connected = true
			st.stale.Stop()
			c.mu.Lock()
			c.clientID = uuid()
			id := c.clientID
			c.mu.Unlock()
			res := map[string]any{"client": id, "version": o.Version, "pong": o.PingInterval > 0 && o.PongTimeout > 0}
			if o.PingInterval > 0 {
				res["ping"] = int(o.PingInterval / time.Second)
				st.ping.Reset(o.PingInterval)
			}
			if o.TTL > 0 {
				res["expires"], res["ttl"] = true, int(o.TTL/time.Second)
				st.expire.Reset(o.TTL + o.ExpiredCloseDelay)
			}
			reply(map[string]any{"id": cmd.ID, "connect": res})
		case "subscribe":
			c.mu.Lock()
			already := c.subs[cmd.Channel]
			c.mu.Unlock()
			var err error
			if already {
				c.srv.duplicates.Add(1)
				err = &ReplyError{Code: 105, Message: "already subscribed"}
			} else if o.Subscribe != nil {
				err = o.Subscribe(cmd.Channel)
			}
			if err != nil {
				if !errReply(err) {
					return false
				}
				continue
			}
			c.mu.Lock()
			c.subs[cmd.Channel] = true
			c.mu.Unlock()
			reply(map[string]any{"id": cmd.ID, "subscribe": struct{}{}})
		case "unsubscribe":
			c.mu.Lock()
			delete(c.subs, cmd.Channel)
			c.mu.Unlock()
			reply(map[string]any{"id": cmd.ID, "unsubscribe": struct{}{}})
		case "refresh":
			if err := st.authorize(cmd.Token, true); err != nil {
				if !errReply(err) {
					return false
				}
				continue
			}
			if o.TTL > 0 {
				st.expire.Reset(o.TTL + o.ExpiredCloseDelay)
			}
			reply(map[string]any{"id": cmd.ID, "refresh": map[string]any{"expires": o.TTL > 0, "ttl": int(o.TTL / time.Second)}})
		default:
			reply(map[string]any{"id": cmd.ID, "error": &ReplyError{Code: 104, Message: "method not found"}})
		}
	}
	flush()
	return true
}

func (st *connState) authorize(token string, refresh bool) error {
	if f := st.c.srv.opts.Authorize; f != nil {
		return f(token, refresh)
	}
	switch {
	case token == "" && refresh:
		return &Close{Code: 3500, Reason: "invalid token"}
	case token == "":
		return &Close{Code: 3501, Reason: "bad request"}
	}
	return nil
}

func uuid() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
