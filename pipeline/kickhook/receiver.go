package kickhook

import (
	"bytes"
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"kickwatch/pipeline"
)

// Kick's webhook headers (reference §5.3). Only the message id, the timestamp
// and the body are signed.
const (
	HeaderMessageID      = "Kick-Event-Message-Id"
	HeaderSubscriptionID = "Kick-Event-Subscription-Id"
	HeaderSignature      = "Kick-Event-Signature"
	HeaderTimestamp      = "Kick-Event-Message-Timestamp"
	HeaderEventType      = "Kick-Event-Type"
	HeaderEventVersion   = "Kick-Event-Version"
)

// EventChatMessageSent is the event type the receiver hands over.
const EventChatMessageSent = "chat.message.sent"

// SourceWebhook is the Mention.Source of messages from this receiver.
const SourceWebhook = "webhook"

// Receiver defaults, each with its reason.
const (
	// DefaultMaxSkew rejects deliveries whose signed timestamp is more than
	// 5 minutes off, as kicksdk does: a captured delivery cannot be replayed later.
	DefaultMaxSkew = 5 * time.Minute
	// DefaultMaxBodyBytes: a chat.message.sent body is about 1 KiB.
	DefaultMaxBodyBytes = 64 << 10
	// DefaultBodyReadTimeout bounds reading one body, so a slow client cannot
	// hold a connection and a buffer for long.
	DefaultBodyReadTimeout = 10 * time.Second
	// DefaultSubmitTimeout bounds the wait for the outbox commit; past it Kick
	// gets a 503 and retries (it tries 3 times).
	DefaultSubmitTimeout = 15 * time.Second
	// DefaultReplaySize ids are remembered: hours of a busy channel's mentions
	// in about 400 KiB.
	DefaultReplaySize = 4096
	// DefaultMaxInFlight bounds concurrent deliveries (and their buffers) on a Pi.
	DefaultMaxInFlight = 32
	// maxHeaderValue bounds the message id and timestamp headers (a ULID is 26
	// characters, an RFC 3339 time about 30).
	maxHeaderValue = 128
)

// ReceiverOptions configure a Receiver; zero fields take the defaults.
type ReceiverOptions struct {
	// PublicKey verifies Kick-Event-Signature; nil means Kick's published key
	// (DefaultPublicKey). Tests set their own.
	PublicKey       *rsa.PublicKey
	MaxSkew         time.Duration
	MaxBodyBytes    int64
	BodyReadTimeout time.Duration
	SubmitTimeout   time.Duration
	MaxInFlight     int
	// ReplaySize is how many ids are remembered (delivery ids and chat
	// message ids, two per accepted message); ReplayWindow how long (default
	// 2×MaxSkew: a delivery is only accepted within ±MaxSkew).
	ReplaySize   int
	ReplayWindow time.Duration
	// Submit hands a verified chat message to the pipeline (ingest.Submit):
	// it reports whether the message matched and returns only once a match is
	// durably stored. An error makes the receiver answer 503 so Kick retries.
	Submit func(ctx context.Context, msg *pipeline.ChatMessage, source string) (bool, error)
	// ChatroomID, if set, gives the chatroom id of a channel slug (the webhook
	// does not carry it); 0 when unknown.
	ChatroomID func(slug string) int64
	Source     string // Mention.Source; default SourceWebhook
	Now        func() time.Time
	Logger     *slog.Logger
}

// Receiver is the http.Handler Kick posts its webhooks to.
type Receiver struct {
	o        ReceiverOptions
	log      *slog.Logger
	replay   *replayCache
	inflight chan struct{}
	stats    stats
	warn     rateLimiter // rejected deliveries (internet noise)
	badBody  rateLimiter // Kick's deliveries that could not be read
	notSaved rateLimiter // Kick's deliveries that could not be stored
}

// NewReceiver returns a Receiver. Submit is required.
func NewReceiver(o ReceiverOptions) (*Receiver, error) {
	if o.Submit == nil {
		return nil, errors.New("kick webhook receiver: no Submit function")
	}
	if o.PublicKey == nil {
		k, err := DefaultPublicKey()
		if err != nil {
			return nil, fmt.Errorf("kick webhook receiver: %w", err)
		}
		o.PublicKey = k
	}
	if o.MaxSkew <= 0 {
		o.MaxSkew = DefaultMaxSkew
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.BodyReadTimeout <= 0 {
		o.BodyReadTimeout = DefaultBodyReadTimeout
	}
	if o.SubmitTimeout <= 0 {
		o.SubmitTimeout = DefaultSubmitTimeout
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = DefaultMaxInFlight
	}
	if o.ReplaySize <= 0 {
		o.ReplaySize = DefaultReplaySize
	}
	if o.ReplayWindow <= 0 {
		o.ReplayWindow = 2 * o.MaxSkew
	}
	if o.Source == "" {
		o.Source = SourceWebhook
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Receiver{
		o:        o,
		log:      log.With("component", "kickhook"),
		replay:   newReplayCache(o.ReplaySize, o.ReplayWindow),
		inflight: make(chan struct{}, o.MaxInFlight),
	}, nil
}

// reply ends a request with a short plain-text status.
func reply(w http.ResponseWriter, status int, text string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, text+"\n")
}

// ServeHTTP checks, verifies and hands over one delivery. Nothing in the body
// is looked at before its signature verifies.
func (rc *Receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		rc.stats.add(cBadMethod)
		w.Header().Set("Allow", http.MethodPost)
		reply(w, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	if !jsonContentType(r.Header.Get("Content-Type")) {
		rc.reject(w, r, cBadType, http.StatusUnsupportedMediaType, "content type must be application/json")
		return
	}
	if r.ContentLength > rc.o.MaxBodyBytes {
		w.Header().Set("Connection", "close")
		rc.reject(w, r, cTooLarge, http.StatusRequestEntityTooLarge, "body too large")
		return
	}
	id, ts, sig := r.Header.Get(HeaderMessageID), r.Header.Get(HeaderTimestamp), r.Header.Get(HeaderSignature)
	if id == "" || ts == "" || sig == "" || len(id) > maxHeaderValue || len(ts) > maxHeaderValue {
		rc.reject(w, r, cBadSignature, http.StatusUnauthorized, "missing or oversized signature headers")
		return
	}
	sent, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		rc.reject(w, r, cStale, http.StatusUnauthorized, "unreadable message timestamp")
		return
	}
	now := rc.o.Now()
	if d := now.Sub(sent); d > rc.o.MaxSkew || d < -rc.o.MaxSkew {
		rc.reject(w, r, cStale, http.StatusUnauthorized, "message timestamp outside the allowed skew")
		return
	}
	select {
	case rc.inflight <- struct{}{}:
		defer func() { <-rc.inflight }()
	default:
		rc.stats.add(cBusy)
		w.Header().Set("Retry-After", "1")
		reply(w, http.StatusServiceUnavailable, "busy")
		return
	}
	body, status, err := rc.readBody(w, r)
	if err != nil {
		c := cReadError
		if status == http.StatusRequestEntityTooLarge {
			c = cTooLarge
		}
		rc.reject(w, r, c, status, err.Error())
		return
	}
	if err := Verify(rc.o.PublicKey, id, ts, body, sig); err != nil {
		rc.reject(w, r, cBadSignature, http.StatusUnauthorized, "signature does not verify")
		return
	}
	// Authentic from here on.
	if rc.replay.seen(id, now) {
		rc.stats.add(cReplay)
		rc.log.Debug("webhook replay ignored", "message_id", id)
		reply(w, http.StatusOK, "duplicate")
		return
	}
	typ := r.Header.Get(HeaderEventType)
	if typ != "" && typ != EventChatMessageSent {
		rc.stats.add(cIgnored)
		rc.replay.add(id, now)
		rc.log.Debug("webhook event ignored", "type", typ, "message_id", id)
		reply(w, http.StatusOK, "ignored")
		return
	}
	msg, err := ParseChatMessageSent(body)
	if err != nil {
		// Signed by Kick but unreadable: retrying cannot help, and failures
		// would get the subscription disabled. Count it and say so loudly.
		rc.stats.add(cMalformed)
		rc.replay.add(id, now)
		if rc.badBody.allow(now) {
			rc.log.Error("webhook chat message unreadable", "message_id", id,
				"version", r.Header.Get(HeaderEventVersion), "error", err)
		}
		rc.log.Debug("webhook malformed body", "message_id", id, "sample", sample(body))
		reply(w, http.StatusOK, "unreadable")
		return
	}
	// Kick's own duplicate may come as a new delivery (a new message id
	// header) of the same chat message; the outbox would drop it too, but
	// only while it still holds the row.
	chatKey := "chat:" + msg.ID
	if rc.replay.seen(chatKey, now) {
		rc.stats.add(cReplay)
		rc.replay.add(id, now)
		rc.log.Debug("webhook duplicate chat message ignored", "message_id", id, "chat_message_id", msg.ID)
		reply(w, http.StatusOK, "duplicate")
		return
	}
	rc.complete(msg, sent)
	ctx, cancel := context.WithTimeout(r.Context(), rc.o.SubmitTimeout)
	defer cancel()
	matched, err := rc.o.Submit(ctx, msg, rc.o.Source)
	if err != nil {
		rc.stats.add(cSubmitError)
		if !errors.Is(err, context.Canceled) && rc.notSaved.allow(now) {
			rc.log.Error("webhook mention not stored; Kick will retry", "message_id", msg.ID, "channel", msg.Channel, "error", err)
		}
		w.Header().Set("Retry-After", "5")
		reply(w, http.StatusServiceUnavailable, "not stored, retry")
		return
	}
	rc.replay.add(id, now)
	rc.replay.add(chatKey, now)
	rc.stats.add(cAccepted)
	if matched {
		rc.stats.add(cMatched)
		rc.log.Debug("webhook mention stored", "message_id", msg.ID, "channel", msg.Channel)
	}
	reply(w, http.StatusOK, "ok")
}

// complete fills what the webhook body lacks.
func (rc *Receiver) complete(msg *pipeline.ChatMessage, sent time.Time) {
	if msg.Channel == "" {
		msg.Channel = "unknown-broadcaster"
	}
	if rc.o.ChatroomID != nil {
		msg.ChatroomID = rc.o.ChatroomID(msg.Channel)
	}
	if msg.CreatedAt.IsZero() {
		// Deliveries before July 2025 had no created_at: the send time is the
		// closest there is.
		msg.CreatedAt = sent
	}
}

// readBody reads the body within MaxBodyBytes and BodyReadTimeout. On error
// it returns the status to answer with.
func (rc *Receiver) readBody(w http.ResponseWriter, r *http.Request) ([]byte, int, error) {
	rcon := http.NewResponseController(w)
	if err := rcon.SetReadDeadline(time.Now().Add(rc.o.BodyReadTimeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return nil, http.StatusInternalServerError, fmt.Errorf("set read deadline: %w", err)
	}
	var buf bytes.Buffer
	if r.ContentLength > 0 {
		buf.Grow(int(r.ContentLength))
	}
	_, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, rc.o.MaxBodyBytes))
	if err != nil {
		// Do not reuse the connection: net/http would otherwise try to read
		// the rest of the body before answering. The expired deadline stays.
		w.Header().Set("Connection", "close")
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			return nil, http.StatusRequestEntityTooLarge, errors.New("body too large")
		case errors.Is(err, os.ErrDeadlineExceeded):
			return nil, http.StatusRequestTimeout, errors.New("body not received in time")
		}
		return nil, http.StatusBadRequest, errors.New("body not readable")
	}
	_ = rcon.SetReadDeadline(time.Time{})
	return buf.Bytes(), 0, nil
}

// reject counts and answers a delivery that is not accepted. Internet noise
// can be loud, so the log line is rate-limited.
func (rc *Receiver) reject(w http.ResponseWriter, r *http.Request, c counter, status int, why string) {
	rc.stats.add(c)
	if rc.warn.allow(rc.o.Now()) {
		rc.log.Warn("webhook delivery rejected", "reason", c.String(), "status", status, "detail", why,
			"remote", r.RemoteAddr, "message_id", truncate(r.Header.Get(HeaderMessageID), maxHeaderValue))
	}
	reply(w, status, why)
}

// jsonContentType accepts application/json with any parameters. An absent
// header is accepted: the signature is what proves the sender, and refusing
// every delivery over a missing header would lose every mention.
func jsonContentType(ct string) bool {
	if ct == "" {
		return true
	}
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && mt == "application/json"
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func sample(b []byte) string {
	const n = 256
	if len(b) > n {
		b = b[:n]
	}
	return strconv.Quote(strings.ToValidUTF8(string(b), "?"))
}

// rateLimiter allows one event a minute, for repeated warnings.
type rateLimiter struct {
	mu   sync.Mutex
	last time.Time
}

func (l *rateLimiter) allow(now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.last.IsZero() && now.Sub(l.last) < time.Minute && now.Sub(l.last) > -time.Minute {
		return false
	}
	l.last = now
	return true
}
