// Package centrifugo reads Kick chat from Kick's Centrifugo realtime server
// (wss://realtime.<region>.platform.kick.com/connection/websocket): it
// negotiates the server, fetches guest tokens, and runs a pipeline.Transport
// that keeps one connection subscribed to every configured chatroom.
//
// Select is the entry point: it applies kick.transport ("auto",
// "centrifugo", "pusher") and answers either a ready *Client or "use
// Pusher" with the reason. Client is the transport; API talks to Kick's
// negotiation and token endpoints; sub-package centrifake is a fake server
// for tests. Facts: ../shared/reference/kick-centrifugo.md.
package centrifugo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"

	"kickwatch/pipeline"
)

// Source is the pipeline.Event Source of this transport.
const Source = "centrifugo"

// Defaults of Config, with the reason for each.
const (
	DefaultReadLimit      = 256 << 10        // a chat frame is ~1 KiB; a batch of them stays far below
	DefaultConnectTimeout = 30 * time.Second // dial + token + connect reply on a slow home line
	DefaultWriteTimeout   = 10 * time.Second
	DefaultPingGrace      = 10 * time.Second // what Kick's own web client allows (reference §4.5)
	DefaultPingInterval   = 25 * time.Second // Centrifugo's default, used when the server does not say
	DefaultRefreshBefore  = 15 * time.Second // refresh this long before the token's ttl runs out
	DefaultRefreshRetry   = 10 * time.Second // retry a failed refresh while the token still lives
	DefaultChannelRetry   = 30 * time.Second // first retry of a refused channel, doubling to 10 min
	maxChannelRetry       = 10 * time.Minute
	maxRefusals           = 5 // HTTP refusals (403/423) in a row before the long terminal wait
)

// TokenFunc returns a connection token for clientID.
type TokenFunc func(ctx context.Context, clientID string) (string, error)

// Breaker is the connection circuit breaker hook (kickwatch/breaker fits).
// After Allow returns nil the client reports exactly one of Success,
// Failure or Release.
type Breaker interface {
	Allow() error
	Success()
	Failure()
	Release()
	ReadyAt() time.Time
}

// Config configures a Client. Zero values take the defaults above.
type Config struct {
	// URL is a fixed WebSocket URL. Empty: negotiate it through API
	// (Centrifugo only; about the first channel with a ChannelID, else the
	// general endpoint) before the first connection (unless Select already
	// did) and after every terminal close.
	URL string
	// API negotiates URLs and issues guest tokens. Required unless URL and
	// Token are both set.
	API *API
	// Token returns connection tokens; default API.Token.
	Token TokenFunc
	// URLPolicy validates URL and negotiated URLs.
	URLPolicy URLPolicy
	// Origin sent on the handshake; default KickOrigin.
	Origin string
	// UserAgent sent on the handshake; default DefaultUserAgent.
	UserAgent string
	// HTTPClient performs the WebSocket handshake; default: a plain client.
	HTTPClient *http.Client

	ReadLimit      int64         // bytes per WebSocket message; larger ones are skipped
	ConnectTimeout time.Duration // negotiation + token + dial + connect reply
	WriteTimeout   time.Duration
	PingGrace      time.Duration // silence allowed beyond the ping interval
	PingInterval   time.Duration // assumed when the connect reply carries none
	RefreshBefore  time.Duration
	RefreshRetry   time.Duration
	ChannelRetry   time.Duration

	// Backoff builds the delay policy between ordinary reconnects; default
	// 1 s doubling to 30 s, jittered, MaxElapsedTime 0 (never stops).
	Backoff func() backoff.BackOff
	// TerminalBackoff builds the delay policy after terminal closes; default
	// 5 min doubling to 30 min plus up to a quarter (never stops).
	TerminalBackoff func() backoff.BackOff
	// Breaker, when set, gates every connection attempt.
	Breaker Breaker
	Logger  *slog.Logger
	// Now stamps received events; default time.Now.
	Now func() time.Time
	// NewClientID makes client ids; default NewClientID.
	NewClientID func() string
}

// Client is the Centrifugo transport. It implements pipeline.Transport.
type Client struct {
	cfg Config
	log *slog.Logger

	// Set by Select from its negotiation: the first connection uses them.
	firstURL, firstClientID string

	mu       sync.Mutex
	channels []pipeline.Channel
	changed  chan struct{} // capacity 1: "channels changed since you last looked"
}

var _ pipeline.Transport = (*Client)(nil)

// New checks cfg, fills in defaults and returns a Client.
func New(cfg Config) (*Client, error) {
	if cfg.URL != "" {
		if _, err := cfg.URLPolicy.Validate(cfg.URL); err != nil {
			return nil, fmt.Errorf("centrifugo url: %w", err)
		}
	} else if cfg.API == nil {
		return nil, errors.New("centrifugo: need a URL or an API to negotiate one")
	}
	if cfg.Token == nil {
		if cfg.API == nil {
			return nil, errors.New("centrifugo: need a Token func or an API")
		}
		cfg.Token = cfg.API.Token
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.ConnectTimeout, DefaultConnectTimeout)
	def(&cfg.WriteTimeout, DefaultWriteTimeout)
	def(&cfg.PingGrace, DefaultPingGrace)
	def(&cfg.PingInterval, DefaultPingInterval)
	def(&cfg.RefreshBefore, DefaultRefreshBefore)
	def(&cfg.RefreshRetry, DefaultRefreshRetry)
	def(&cfg.ChannelRetry, DefaultChannelRetry)
	if cfg.ReadLimit <= 0 {
		cfg.ReadLimit = DefaultReadLimit
	}
	if cfg.Origin == "" {
		cfg.Origin = KickOrigin
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = DefaultUserAgent
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{}
	}
	if cfg.Backoff == nil {
		cfg.Backoff = DefaultBackoff
	}
	if cfg.TerminalBackoff == nil {
		cfg.TerminalBackoff = DefaultTerminalBackoff
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.NewClientID == nil {
		cfg.NewClientID = NewClientID
	}
	return &Client{cfg: cfg, log: cfg.Logger.With("component", "centrifugo"), changed: make(chan struct{}, 1)}, nil
}

// SetChannels replaces the watched channels; the live connection subscribes
// and unsubscribes to match. Safe from any goroutine.
func (c *Client) SetChannels(chs []pipeline.Channel) {
	c.mu.Lock()
	c.channels = slices.Clone(chs)
	c.mu.Unlock()
	select {
	case c.changed <- struct{}{}:
	default:
	}
}

func (c *Client) currentChannels() []pipeline.Channel {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.channels)
}

// DefaultBackoff is the ordinary reconnect policy: 1 s doubling to 30 s,
// ±25 % jitter, never stopping.
func DefaultBackoff() backoff.BackOff {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = time.Second
	b.Multiplier = 2
	b.MaxInterval = 30 * time.Second
	b.RandomizationFactor = 0.25
	b.MaxElapsedTime = 0
	b.Reset()
	return b
}

// DefaultTerminalBackoff is the policy after a terminal close: 5, 10, 20,
// 30, 30 … minutes, each plus up to a quarter (reference §4.7).
func DefaultTerminalBackoff() backoff.BackOff {
	return &terminalBackoff{first: 5 * time.Minute, max: 30 * time.Minute}
}

type terminalBackoff struct {
	first, max time.Duration
	n          int
}

func (b *terminalBackoff) NextBackOff() time.Duration {
	d := b.first << min(b.n, 10)
	if d > b.max || d <= 0 {
		d = b.max
	}
	b.n++
	return d + rand.N(d/4+1)
}

func (b *terminalBackoff) Reset() { b.n = 0 }

// outcome is how one connection attempt ended.
type outcome struct {
	err        error
	terminal   bool          // start again later as a new client
	refused    bool          // an HTTP refusal (403/423) from the realtime API
	retryAfter time.Duration // a minimum wait the server asked for
	healthy    bool          // the attempt got as far as a subscribed chat feed
}

// Run connects and reads chat until ctx is done, reconnecting on its own and
// never giving up for good. It returns nil when ctx is done.
func (c *Client) Run(ctx context.Context, h pipeline.Handler) error {
	ordinary, terminal := c.cfg.Backoff(), c.cfg.TerminalBackoff()
	clientID, url := c.firstClientID, c.cfg.URL
	if clientID == "" {
		clientID = c.cfg.NewClientID()
	}
	if url == "" {
		url = c.firstURL
	}
	refusals, failures := 0, 0
	var lastWarn time.Time
	for ctx.Err() == nil {
		if b := c.cfg.Breaker; b != nil {
			if err := b.Allow(); err != nil {
				wait := b.ReadyAt().Sub(c.cfg.Now())
				if wait <= 0 {
					wait = ordinary.NextBackOff()
				}
				h.Connected(Source, false, err)
				c.log.Debug("connection breaker open", "wait", wait)
				if !sleep(ctx, wait) {
					break
				}
				continue
			}
		}
		healthy := func() {
			ordinary.Reset()
			terminal.Reset()
			refusals = 0
			if failures > 0 {
				c.log.Info("chat connection restored", "failed_attempts", failures)
			}
			failures = 0
			if b := c.cfg.Breaker; b != nil {
				b.Success()
			}
		}
		res := c.attempt(ctx, h, clientID, &url, healthy)
		if b := c.cfg.Breaker; b != nil && !res.healthy {
			if ctx.Err() != nil {
				b.Release()
			} else {
				b.Failure()
			}
		}
		if ctx.Err() != nil {
			break
		}
		h.Connected(Source, false, res.err)
		if res.refused {
			refusals++
		} else if res.healthy {
			refusals = 0
		}
		var delay time.Duration
		if res.terminal || refusals >= maxRefusals {
			delay = terminal.NextBackOff()
			clientID = c.cfg.NewClientID()
			refusals = 0
			if c.cfg.URL == "" {
				url = "" // start again from the negotiation
			}
		} else {
			delay = ordinary.NextBackOff()
		}
		delay = max(delay, res.retryAfter)
		failures++
		if now := time.Now(); now.Sub(lastWarn) >= time.Minute {
			lastWarn = now
			c.log.Warn("chat connection lost, reconnecting", "error", res.err, "terminal", res.terminal, "wait", delay)
		} else {
			c.log.Debug("chat connection lost, reconnecting", "error", res.err, "terminal", res.terminal, "wait", delay)
		}
		if !sleep(ctx, delay) {
			break
		}
	}
	return nil
}

// attempt runs negotiation (when needed), token, dial and one session.
func (c *Client) attempt(ctx context.Context, h pipeline.Handler, clientID string, url *string, healthy func()) outcome {
	if *url == "" {
		sel, err := c.withTimeout(ctx, func(ctx context.Context) (Selection, error) {
			return c.cfg.API.Connection(ctx, negotiationChannel(c.currentChannels()), clientID, ProviderCentrifugo)
		})
		if err != nil {
			return httpOutcome(err)
		}
		*url = sel.URL
	}
	tok, err := c.withTimeoutTok(ctx, clientID)
	if err != nil {
		return httpOutcome(err)
	}
	return c.session(ctx, h, *url, clientID, tok, healthy)
}

// negotiationChannel is the channel id the per-channel negotiation asks
// about: the first channel that has one; 0 (the general endpoint) if none.
func negotiationChannel(chs []pipeline.Channel) int64 {
	for _, ch := range chs {
		if ch.ChannelID > 0 {
			return ch.ChannelID
		}
	}
	return 0
}

func httpOutcome(err error) outcome {
	o := outcome{err: err}
	var he *HTTPError
	if errors.As(err, &he) {
		o.refused = he.Refused()
		o.retryAfter = he.RetryAfter
	}
	return o
}

func (c *Client) withTimeout(ctx context.Context, f func(context.Context) (Selection, error)) (Selection, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.ConnectTimeout)
	defer cancel()
	return f(ctx)
}

func (c *Client) withTimeoutTok(ctx context.Context, clientID string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.ConnectTimeout)
	defer cancel()
	return c.cfg.Token(ctx, clientID)
}

// sleep waits d or until ctx is done; false when ctx is done.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
