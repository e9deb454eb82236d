// Package kick reads Kick chat over Kick's Pusher socket: the transport
// (connection, keepalive, subscriptions, reconnects), the chat message event
// parser, and the slug → chatroom id resolver. Sub-package kickfake is a fake
// of the Pusher server for tests and the offline demo.
package kick

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/coder/websocket"

	"kickwatch/pipeline"
)

// Source is the name this transport reports to the Handler.
const Source = "pusher"

// ErrAppKeyGone is reported (wrapped) when the server closes with 4001
// "application does not exist": the Pusher app key was retired and only a new
// key or another transport will work.
var ErrAppKeyGone = errors.New(`the Pusher app key is gone; set kick.transport = "centrifugo" or "auto"`)

// ErrRefused is reported (wrapped) for the other 4000–4099 closes, after
// which reconnecting unchanged will not succeed (the transport still retries, rarely).
var ErrRefused = errors.New("pusher refused the connection")

// CloseError is a Pusher close code and reason (from the close frame or a
// preceding pusher:error).
type CloseError struct {
	Code   int
	Reason string
}

func (e *CloseError) Error() string { return fmt.Sprintf("pusher closed: %d %s", e.Code, e.Reason) }

// Transport is the Pusher transport: one socket for every channel. It
// implements pipeline.Transport.
type Transport struct {
	o   Options
	log *slog.Logger

	mu      sync.Mutex
	want    map[int64]pipeline.Channel
	changed chan struct{} // cap 1: the wanted set changed
}

var _ pipeline.Transport = (*Transport)(nil)

// New returns a Transport; call SetChannels and Run.
func New(o Options) *Transport {
	o = o.withDefaults()
	return &Transport{
		o:       o,
		log:     o.Logger.With("component", "kick.pusher"),
		want:    map[int64]pipeline.Channel{},
		changed: make(chan struct{}, 1),
	}
}

// SetChannels replaces the watched channels. The live socket subscribes and
// unsubscribes to match; channels without a chatroom id are ignored. Safe from
// any goroutine.
func (t *Transport) SetChannels(chs []pipeline.Channel) {
	want := make(map[int64]pipeline.Channel, len(chs))
	for _, c := range chs {
		if c.ChatroomID > 0 {
			want[c.ChatroomID] = c
		}
	}
	t.mu.Lock()
	t.want = want
	t.mu.Unlock()
	select {
	case t.changed <- struct{}{}:
	default:
	}
}

func (t *Transport) wanted() []int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	ids := make([]int64, 0, len(t.want))
	for id := range t.want {
		ids = append(ids, id)
	}
	return ids
}

// Run reads chat until ctx is done, reconnecting forever with backoff. Every
// Handler call is made from the goroutine that called Run. It returns nil once
// ctx is done.
func (t *Transport) Run(ctx context.Context, h pipeline.Handler) error {
	bo := newBackoff(t.o.BackoffInitial, t.o.BackoffMax, 0.5)
	refused := newBackoff(t.o.RefusedBackoffMin, t.o.RefusedBackoffMax, 0.2)
	var (
		lastDial  time.Time
		lastLog   time.Time
		failures  int // consecutive connections that did not stay healthy
		quick     int // consecutive 42xx "reconnect now" closes
		wasFailed bool
	)
	for {
		if ctx.Err() != nil {
			return nil
		}
		if b := t.o.Breaker; b != nil {
			if err := b.Allow(); err != nil {
				wait := t.o.MinReconnectInterval
				if at := b.ReadyAt(); !at.IsZero() {
					wait = max(at.Sub(t.o.Now()), wait)
				}
				t.log.Debug("connection breaker open", "error", err, "retry_in", wait)
				if !t.wait(ctx, wait) {
					return nil
				}
				continue
			}
		}
		if since := time.Since(lastDial); !lastDial.IsZero() && since < t.o.MinReconnectInterval {
			if !t.wait(ctx, t.o.MinReconnectInterval-since) {
				return nil
			}
		}
		lastDial = time.Now()
		res := t.session(ctx, h, func() {
			if t.o.Breaker != nil {
				t.o.Breaker.Success()
			}
			h.Connected(Source, true, nil)
			if wasFailed {
				t.log.Info("reconnected", "after_failures", failures)
			} else {
				t.log.Info("connected")
			}
			wasFailed = false
		})
		if t.o.Breaker != nil && !res.established {
			if ctx.Err() != nil {
				t.o.Breaker.Release()
			} else {
				t.o.Breaker.Failure()
			}
		}
		if ctx.Err() != nil {
			if res.established {
				h.Connected(Source, false, nil)
			}
			return nil
		}
		healthy := res.established && res.uptime >= t.o.HealthyAfter
		if healthy {
			bo.Reset()
			refused.Reset()
			failures, quick = 0, 0
		}
		failures++
		wasFailed = true

		wait, level, err := t.classify(res, bo, refused, &quick)
		h.Connected(Source, false, err)
		if level > slog.LevelWarn || t.o.Now().Sub(lastLog) >= t.o.ReconnectLogEvery {
			lastLog = t.o.Now()
		} else {
			level = slog.LevelDebug
		}
		t.log.Log(ctx, level, "pusher disconnected; reconnecting", "error", err, "retry_in", wait.Round(time.Millisecond), "failures", failures)
		if !t.wait(ctx, wait) {
			return nil
		}
	}
}

// classify maps how a session ended to the error to report, the wait before
// the next dial, and a log level (Error for closes that need the operator).
func (t *Transport) classify(res sessionResult, bo, refused *backoff.ExponentialBackOff, quick *int) (time.Duration, slog.Level, error) {
	err := res.err
	code := res.code
	switch {
	case code == 4001:
		*quick = 0
		return refused.NextBackOff(), slog.LevelError, fmt.Errorf("%w (close %d %q)", ErrAppKeyGone, code, res.reason)
	case code >= 4000 && code <= 4099:
		*quick = 0
		return refused.NextBackOff(), slog.LevelError, fmt.Errorf("%w: close %d %q", ErrRefused, code, res.reason)
	case code >= 4100 && code <= 4199:
		*quick = 0
		return max(bo.NextBackOff(), time.Second), slog.LevelWarn, &CloseError{Code: code, Reason: res.reason}
	case code >= 4200 && code <= 4299:
		*quick++
		ce := &CloseError{Code: code, Reason: res.reason}
		if *quick > 3 { // the server keeps asking; stop obeying at once
			return bo.NextBackOff(), slog.LevelWarn, ce
		}
		return rand.N(250 * time.Millisecond), slog.LevelInfo, ce
	}
	*quick = 0
	if code >= 4300 {
		err = &CloseError{Code: code, Reason: res.reason}
	}
	if err == nil {
		err = errors.New("connection closed")
	}
	return bo.NextBackOff(), slog.LevelWarn, err
}

// wait blocks for d or until ctx is done; false means ctx is done.
func (t *Transport) wait(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	select {
	case <-ctx.Done():
		return false
	case <-t.o.After(d):
		return true
	}
}

func newBackoff(initial, maxInterval time.Duration, jitter float64) *backoff.ExponentialBackOff {
	// MaxElapsedTime 0: never stop (v4's default gives up after 15 minutes).
	return backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(initial),
		backoff.WithMaxInterval(maxInterval),
		backoff.WithMultiplier(2),
		backoff.WithRandomizationFactor(jitter),
		backoff.WithMaxElapsedTime(0),
	)
}

// closeStatus is the WebSocket close code in err, or -1.
func closeStatus(err error) (int, string) {
	var ce websocket.CloseError
	if errors.As(err, &ce) {
		return int(ce.Code), ce.Reason
	}
	return -1, ""
}
