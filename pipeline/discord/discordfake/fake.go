// Package discordfake is a fault-injecting Discord webhook server for tests
// and load runs. It behaves as pipeline/discord's reference says Discord does
// (discord-and-postgrest.md part A): the Execute Webhook route, the success
// bodies, rate-limit headers and buckets, the 429 scopes, the error bodies,
// and transport faults (hangs, resets, slow bodies).
package discordfake

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Defaults: the per-webhook bucket Discord staff reported (5 per 2 s, A2).
const (
	DefaultBucketLimit  = 5
	DefaultBucketWindow = 2 * time.Second
	DefaultWebhookID    = "1234567890123456789"
	DefaultToken        = "fake-TOKEN_abcdefghijklmnopqrstuvwxyz0123456789"
	maxRequestBody      = 8 << 20
	defaultMaxRecorded  = 10000
)

// Options configures a Server. Zero values take the defaults.
type Options struct {
	// Now is the bucket clock. Default time.Now; tests share a fake clock
	// with the client.
	Now func() time.Time
	// BucketLimit requests per BucketWindow per webhook (default 5 per 2 s).
	BucketLimit  int
	BucketWindow time.Duration
	// ChannelLimit, when > 0, adds the hidden per-channel limit reported in
	// A2 (about 30 per minute): exceeding it gives a "shared" 429 with the
	// rest of ChannelWindow (default 60 s) as retry_after, while the bucket
	// headers still show requests remaining.
	ChannelLimit  int
	ChannelWindow time.Duration
	// WebhookID and Token form the path /api/webhooks/{id}/{token}.
	WebhookID string
	Token     string
	// RejectMarker, when set, makes any payload whose embeds contain it
	// answer 400 50035 pointing at that embed.
	RejectMarker string
	// MaxRecorded bounds the recorded requests (default 10,000); older
	// requests are dropped first so long load runs stay small.
	MaxRecorded int
	// OnRequest, when set, is called with each request once it is recorded,
	// before the answer is written (for a hang: before it starts hanging).
	OnRequest func(Request)
}

// Request is one request the fake received.
type Request struct {
	Seq     int // 1-based arrival order
	At      time.Time
	Method  string
	Path    string
	Query   url.Values
	Header  http.Header
	Body    []byte
	Payload *Payload // nil when the body was not valid JSON
	Status  int      // the status answered; 0 for hangs and resets
	Early   bool     // sent while the last answer said the bucket was empty
}

// Server is the fake. It is safe for concurrent use.
type Server struct {
	ts   *httptest.Server
	o    Options
	done chan struct{}
	once sync.Once

	mu        sync.Mutex
	faults    []Fault
	reqs      []Request
	seq       int
	deleted   bool
	winStart  time.Time // current bucket window
	winCount  int
	chanStart time.Time
	chanCount int
	emptyTill time.Time // the reset time of the last answer that said Remaining 0
	early     int
	statuses  map[int]int
	msgSeq    uint64
}

// New starts a fake on a loopback port. Close it when done.
func New(o Options) *Server {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.BucketLimit <= 0 {
		o.BucketLimit = DefaultBucketLimit
	}
	if o.BucketWindow <= 0 {
		o.BucketWindow = DefaultBucketWindow
	}
	if o.ChannelWindow <= 0 {
		o.ChannelWindow = time.Minute
	}
	if o.WebhookID == "" {
		o.WebhookID = DefaultWebhookID
	}
	if o.Token == "" {
		o.Token = DefaultToken
	}
	if o.MaxRecorded <= 0 {
		o.MaxRecorded = defaultMaxRecorded
	}
	s := &Server{o: o, done: make(chan struct{}), statuses: map[int]int{}}
	s.ts = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// Close releases hanging requests and stops the server.
func (s *Server) Close() {
	s.once.Do(func() {
		close(s.done)
		s.ts.CloseClientConnections()
		s.ts.Close()
	})
}

// URL is the server's base URL.
func (s *Server) URL() string { return s.ts.URL }

// WebhookURL is the webhook's full URL, token included.
func (s *Server) WebhookURL() string {
	return s.ts.URL + "/api/webhooks/" + s.o.WebhookID + "/" + s.o.Token
}

// Client is an HTTP client for the server.
func (s *Server) Client() *http.Client { return s.ts.Client() }

// Script queues faults; each request takes the next one.
func (s *Server) Script(faults ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, faults...)
}

// SetRejectMarker changes Options.RejectMarker.
func (s *Server) SetRejectMarker(m string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.o.RejectMarker = m
}

// DeleteWebhook makes the webhook answer 404 10015 from now on, as a deleted
// webhook does.
func (s *Server) DeleteWebhook() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deleted = true
}

// Requests returns a copy of the recorded requests, oldest first.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.reqs...)
}

// Count is how many requests arrived.
func (s *Server) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seq
}

// Early counts requests sent while the client had been told the bucket was
// empty (X-RateLimit-Remaining: 0) and its reset had not come.
func (s *Server) Early() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.early
}

// Statuses counts the answers by status code.
func (s *Server) Statuses() map[int]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := make(map[int]int, len(s.statuses))
	for k, v := range s.statuses {
		m[k] = v
	}
	return m
}

// answer is what the handler writes, decided under the lock.
type answer struct {
	fault  Fault
	status int
	body   string
	ctype  string
	header http.Header
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBody+1))
	if err != nil {
		return // the client went away
	}
	a, rec := s.decide(r, body)
	if s.o.OnRequest != nil {
		s.o.OnRequest(rec)
	}
	switch {
	case a.fault.Reset:
		reset(w)
		return
	case a.fault.Hang:
		select {
		case <-r.Context().Done():
		case <-s.done:
		}
		// Drop the connection: returning would send an empty 200.
		panic(http.ErrAbortHandler)
	}
	for k, v := range a.header {
		w.Header()[k] = v
	}
	if a.ctype != "" {
		w.Header().Set("Content-Type", a.ctype)
	}
	if !a.fault.SlowBody {
		w.WriteHeader(a.status)
		_, _ = io.WriteString(w, a.body)
		return
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(a.body)))
	w.WriteHeader(a.status)
	half := len(a.body) / 2
	_, _ = io.WriteString(w, a.body[:half])
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	var delay <-chan time.Time
	if a.fault.SlowDelay > 0 {
		t := time.NewTimer(a.fault.SlowDelay)
		defer t.Stop()
		delay = t.C
	}
	select {
	case <-delay:
		_, _ = io.WriteString(w, a.body[half:])
	case <-r.Context().Done():
		panic(http.ErrAbortHandler)
	case <-s.done:
		panic(http.ErrAbortHandler)
	}
}

// reset closes the connection with a TCP RST.
func reset(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		return
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		return
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

// decide records the request and chooses its answer.
func (s *Server) decide(r *http.Request, body []byte) (answer, Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.o.Now()
	s.seq++
	rec := Request{Seq: s.seq, At: now, Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Header: r.Header.Clone(), Body: body}
	var p Payload
	jsonErr := json.Unmarshal(body, &p)
	if jsonErr == nil {
		rec.Payload = &p
	}
	if now.Before(s.emptyTill) {
		rec.Early = true
		s.early++
	}
	var f Fault
	if len(s.faults) > 0 {
		f = s.faults[0]
		if f.Times > 1 {
			s.faults[0].Times--
		} else {
			s.faults = s.faults[1:]
		}
	}
	a := s.respond(r, &p, jsonErr, len(body) > maxRequestBody, f, now)
	rec.Status = a.status
	if f.Hang || f.Reset {
		rec.Status = 0
	} else {
		s.statuses[a.status]++
	}
	s.reqs = append(s.reqs, rec)
	if len(s.reqs) > s.o.MaxRecorded {
		s.reqs = append(s.reqs[:0:0], s.reqs[len(s.reqs)-s.o.MaxRecorded:]...)
	}
	return a, rec
}

// respond chooses the answer; s.mu is held.
func (s *Server) respond(r *http.Request, p *Payload, jsonErr error, tooBig bool, f Fault, now time.Time) answer {
	a := answer{fault: f, header: http.Header{}}
	if f.Hang || f.Reset {
		return a
	}
	s.rollWindows(now)
	if f.Status != 0 {
		a.status, a.body, a.ctype = f.Status, f.Body, f.ContentType
		if f.Status == http.StatusTooManyRequests && f.Body == "" {
			rl := RateLimit("user", 1.5)
			a.body, f.Header = rl.Body, rl.Header
		}
		if a.body == "" {
			a.body, a.ctype = cannedBody(f.Status)
		}
		if a.ctype == "" {
			a.ctype = "application/json"
		}
		if !f.NoRateHeaders {
			s.rateHeaders(a.header, now)
		}
		for k, v := range f.Header {
			a.header[k] = v
		}
		return a
	}
	s.rateHeaders(a.header, now) // overwritten below when the request uses quota
	js := func(status int, body string) answer {
		a.status, a.body, a.ctype = status, body, "application/json"
		return a
	}
	if r.Method != http.MethodPost && r.Method != http.MethodGet {
		return js(http.StatusMethodNotAllowed, `{"message": "405: Method Not Allowed", "code": 0}`)
	}
	switch id, token, ok := hookPath(r.URL.Path); {
	case !ok || id != s.o.WebhookID || s.deleted:
		return js(http.StatusNotFound, `{"message": "Unknown Webhook", "code": 10015}`)
	case token != s.o.Token:
		return js(http.StatusUnauthorized, `{"message": "Invalid Webhook Token", "code": 50027}`)
	case r.Method == http.MethodGet:
		// Get Webhook with Token: the webhook object, without a user.
		return js(http.StatusOK, fmt.Sprintf(`{"application_id": null, "avatar": null, "channel_id": "199737254929760256", `+
			`"guild_id": "199737254929760256", "id": %q, "name": "kickwatch", "type": 1, "token": %q}`, s.o.WebhookID, s.o.Token))
	}
	if s.winCount >= s.o.BucketLimit {
		return s.limited(a, "user", "You are being rate limited.", s.winStart.Add(s.o.BucketWindow).Sub(now))
	}
	if s.o.ChannelLimit > 0 && s.chanCount >= s.o.ChannelLimit {
		return s.limited(a, "shared", "The resource is being rate limited.", s.chanStart.Add(s.o.ChannelWindow).Sub(now))
	}
	// From here the request uses quota, failed ones too (A2: "failed
	// requests count towards rate limit same as successful ones").
	s.winCount++
	s.chanCount++
	s.rateHeaders(a.header, now)
	switch {
	case tooBig:
		return js(http.StatusRequestEntityTooLarge, `{"message": "Request entity too large", "code": 40005}`)
	case !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json"):
		return js(http.StatusBadRequest, formError{[]string{"content"}, "BASE_TYPE_REQUIRED", "This field is required"}.body())
	case jsonErr != nil:
		return js(http.StatusBadRequest, `{"message": "The request body contains invalid JSON.", "code": 50109}`)
	}
	if bad := validate(p); bad != "" {
		return js(http.StatusBadRequest, bad)
	}
	if i := containsMarker(p, s.o.RejectMarker); i >= 0 {
		return js(http.StatusBadRequest, markerError(i))
	}
	if !boolQuery(r.URL.Query().Get("wait")) {
		a.status = http.StatusNoContent
		return a
	}
	return js(http.StatusOK, s.message(p, r.URL.Query().Get("thread_id"), now))
}

// limited is a bucket 429 with the reference's headers and body.
func (s *Server) limited(a answer, scope, msg string, wait time.Duration) answer {
	sec := math.Max(wait.Seconds(), 0.001)
	a.header.Set("Retry-After", strconv.Itoa(int(math.Ceil(sec))))
	a.header.Set("X-RateLimit-Scope", scope)
	a.status, a.ctype = http.StatusTooManyRequests, "application/json"
	a.body = fmt.Sprintf(`{"message": %q, "retry_after": %.3f, "global": false}`, msg, sec)
	return a
}

func (s *Server) rollWindows(now time.Time) {
	if !now.Before(s.winStart.Add(s.o.BucketWindow)) {
		s.winStart, s.winCount = now, 0
	}
	if !now.Before(s.chanStart.Add(s.o.ChannelWindow)) {
		s.chanStart, s.chanCount = now, 0
	}
}

// rateHeaders sets the bucket headers of A2 and remembers an empty bucket.
func (s *Server) rateHeaders(h http.Header, now time.Time) {
	reset := s.winStart.Add(s.o.BucketWindow)
	remaining := max(s.o.BucketLimit-s.winCount, 0)
	h.Set("X-RateLimit-Limit", strconv.Itoa(s.o.BucketLimit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(remaining))
	h.Set("X-RateLimit-Reset", strconv.FormatFloat(float64(reset.UnixMilli())/1000, 'f', 3, 64))
	h.Set("X-RateLimit-Reset-After", strconv.FormatFloat(math.Max(reset.Sub(now).Seconds(), 0), 'f', 3, 64))
	h.Set("X-RateLimit-Bucket", "f3a9c1e07b5d42e8a6c0d9b1e2f4a7c3")
	h.Set("Via", "1.1 google")
	if remaining == 0 {
		s.emptyTill = reset
	}
}

// message is the wait=true success body: a Message object (A1).
func (s *Server) message(p *Payload, threadID string, now time.Time) string {
	s.msgSeq++
	id := strconv.FormatUint(uint64(max(now.UnixMilli()-1420070400000, 0))<<22|s.msgSeq&0x3fffff, 10)
	channel := s.o.WebhookID[:len(s.o.WebhookID)-1] + "0"
	if threadID != "" {
		channel = threadID
	}
	name := "Captain Hook"
	if p.Username != nil {
		name = *p.Username
	}
	embeds := p.Embeds
	if embeds == nil {
		embeds = []Embed{}
	}
	for i := range embeds {
		embeds[i].Description = strings.TrimSpace(embeds[i].Description)
	}
	b, _ := json.Marshal(map[string]any{
		"id": id, "type": 0, "content": p.Content, "channel_id": channel, "webhook_id": s.o.WebhookID,
		"author": map[string]any{"id": s.o.WebhookID, "username": name, "avatar": nil, "discriminator": "0000", "bot": true},
		"embeds": embeds, "mentions": []any{}, "mention_roles": []any{}, "mention_everyone": false,
		"attachments": []any{}, "components": []any{}, "pinned": false, "tts": false, "flags": p.Flags,
		"timestamp": now.UTC().Format("2006-01-02T15:04:05.000000+00:00"),
	})
	return string(b)
}

// hookPath splits /api[/vN]/webhooks/{id}/{token}.
func hookPath(p string) (id, token string, ok bool) {
	seg := strings.Split(strings.Trim(p, "/"), "/")
	if len(seg) == 5 && strings.HasPrefix(seg[1], "v") {
		seg = append(seg[:1], seg[2:]...)
	}
	if len(seg) != 4 || seg[0] != "api" || seg[1] != "webhooks" {
		return "", "", false
	}
	return seg[2], seg[3], true
}

// boolQuery reads Discord's query booleans: True, true or 1 (A1).
func boolQuery(v string) bool { return v == "true" || v == "True" || v == "1" }
