package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"kickwatch/pipeline/kick"
	"kickwatch/pipeline/kick/kickfake"
)

// KickServer is the fake Kick Pusher server on a loopback port.
type KickServer struct {
	*kickfake.Server
	HTTP *httptest.Server
}

// NewKickServer starts a fake Kick server; Close it when done.
func NewKickServer(log *slog.Logger) *KickServer {
	f := kickfake.New(kickfake.Options{Logger: log})
	return &KickServer{Server: f, HTTP: httptest.NewServer(f.Handler())}
}

// URL is the socket URL to put in kick.ws_url.
func (k *KickServer) URL() string { return k.SocketURL(k.HTTP.URL) }

// Close cuts every socket and stops the server.
func (k *KickServer) Close() {
	k.Drop()
	k.HTTP.CloseClientConnections()
	k.HTTP.Close()
}

// WaitAllSubscribed waits until every chatroom has a subscribed socket.
func (k *KickServer) WaitAllSubscribed(ctx context.Context, chs []Channel) error {
	for _, c := range chs {
		if err := k.WaitSubscribed(ctx, c.ChatroomID); err != nil {
			return fmt.Errorf("channel %s: %w", c.Slug, err)
		}
	}
	return nil
}

// WaitNoSockets waits until the fake has no open socket (after a daemon died
// or closed its connection).
func (k *KickServer) WaitNoSockets(ctx context.Context) error {
	return k.Wait(ctx, func(s kickfake.Stats) bool { return s.Open == 0 })
}

// Message is one chat message to publish.
type Message struct {
	ID         string // Kick message id; NewUUID() when empty
	ChatroomID int64
	SenderID   int64
	Sender     string
	Content    string
	CreatedAt  time.Time // default now
}

// ChatData is the data object of Kick's App\Events\ChatMessageEvent for m, in
// the 2025 shape (reference kick-chat-protocol §4.1).
func ChatData(m Message) []byte {
	at := m.CreatedAt
	if at.IsZero() {
		at = time.Now()
	}
	sender := m.Sender
	if sender == "" {
		sender = "viewer"
	}
	b, _ := json.Marshal(map[string]any{
		"id":          m.ID,
		"chatroom_id": m.ChatroomID,
		"content":     m.Content,
		"type":        "message",
		"created_at":  at.UTC().Format("2006-01-02T15:04:05+00:00"),
		"sender": map[string]any{
			"id": m.SenderID, "username": sender, "slug": sender,
			"identity": map[string]any{"color": "#DEB2FF", "badges": []any{}},
		},
		"metadata": map[string]any{"message_ref": strconv.FormatInt(at.UnixMilli(), 10)},
	})
	return b
}

// PublishMessage sends m to the sockets subscribed to its chatroom, as Kick
// does; it returns how many sockets it was queued to (0: nobody listens).
func (k *KickServer) PublishMessage(m Message) int {
	if m.ID == "" {
		m.ID = NewUUID()
	}
	return k.Publish(m.ChatroomID, kick.EventChatMessage, ChatData(m))
}

// NewUUID is a random (version 4) UUID, the form of Kick's message ids.
func NewUUID() string {
	var u [16]byte
	_, _ = rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	h := hex.EncodeToString(u[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// RandomHex is n random bytes in hex.
func RandomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Gate fronts a peer and can take it down: while down it answers every
// request with a fixed status and body (as the peer does when overloaded);
// while up it proxies to the peer.
type Gate struct {
	srv   *httptest.Server
	proxy *httputil.ReverseProxy

	down    atomic.Bool
	mu      sync.Mutex
	status  int
	body    string
	ctype   string
	header  http.Header
	refused atomic.Int64
	proxied atomic.Int64
}

// NewGate starts a gate in front of target (a base URL), up.
func NewGate(target string) (*Gate, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, fmt.Errorf("gate target: %w", err)
	}
	g := &Gate{proxy: httputil.NewSingleHostReverseProxy(u)}
	g.proxy.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) {
		w.WriteHeader(http.StatusBadGateway)
	}
	g.srv = httptest.NewServer(http.HandlerFunc(g.serve))
	return g, nil
}

// DiscordOverloaded is Discord's 503 answer (reference A3: code 130000).
const DiscordOverloaded = `{"message": "API resource is currently overloaded. Try again a little later.", "code": 130000}`

// PostgRESTDown is PostgREST's 503 answer while its database is down
// (reference B8 #40), with its Retry-After.
const PostgRESTDown = `{"code":"PGRST000","details":"connection to server at \"127.0.0.1\", port 5432 failed: Connection refused","hint":null,"message":"Database connection error. Retrying the connection."}`

// Down makes the gate answer status with body (Content-Type ctype) and the
// extra header h until Up.
func (g *Gate) Down(status int, body, ctype string, h http.Header) {
	g.mu.Lock()
	g.status, g.body, g.ctype, g.header = status, body, ctype, h.Clone()
	g.mu.Unlock()
	g.down.Store(true)
}

// Up lets requests through again.
func (g *Gate) Up() { g.down.Store(false) }

// URL is the gate's base URL (use it in place of the peer's).
func (g *Gate) URL() string { return g.srv.URL }

// Counts returns requests refused while down, and proxied while up.
func (g *Gate) Counts() (refused, proxied int64) { return g.refused.Load(), g.proxied.Load() }

// Close stops the gate.
func (g *Gate) Close() {
	g.srv.CloseClientConnections()
	g.srv.Close()
}

func (g *Gate) serve(w http.ResponseWriter, r *http.Request) {
	if !g.down.Load() {
		g.proxied.Add(1)
		g.proxy.ServeHTTP(w, r)
		return
	}
	g.refused.Add(1)
	_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 8<<20))
	g.mu.Lock()
	status, body, ctype, h := g.status, g.body, g.ctype, g.header
	g.mu.Unlock()
	for k, v := range h {
		w.Header()[k] = v
	}
	if ctype != "" {
		w.Header().Set("Content-Type", ctype)
	}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

// httpGet fetches url with a short timeout and returns status and body
// (bounded to 4 MiB).
func httpGet(ctx context.Context, url string) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	return resp.StatusCode, b, err
}

// Get fetches path (e.g. "/metrics") from the daemon's HTTP listener.
func (p *Process) Get(ctx context.Context, path string) (int, []byte, error) {
	addr, err := p.HTTPAddr(ctx)
	if err != nil {
		return 0, nil, err
	}
	return httpGet(ctx, "http://"+addr+path)
}
