package app

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"kickwatch/pipeline"
)

// renegotiateEvery is how often kick.transport = "auto", running on Pusher
// because Kick's negotiation failed, asks again: the fallback must not
// outlive the outage that caused it.
const renegotiateEvery = 15 * time.Minute

// autoTransport runs the Pusher fallback chosen when the transport
// negotiation failed, and keeps negotiating in the background; once Kick
// offers a transport kickwatch implements, it switches to it on the fly.
type autoTransport struct {
	log   *slog.Logger
	every time.Duration
	// negotiate returns the transport to switch to, or nil to stay.
	negotiate func(ctx context.Context, chs []pipeline.Channel) pipeline.Transport

	mu       sync.Mutex
	current  pipeline.Transport
	channels []pipeline.Channel
}

var _ pipeline.Transport = (*autoTransport)(nil)

// SetChannels sets the channels on the transport running now and on any
// transport switched to later.
func (a *autoTransport) SetChannels(chs []pipeline.Channel) {
	a.mu.Lock()
	defer a.mu.Unlock() // in order with the switch in Run
	a.channels = chs
	a.current.SetChannels(chs)
}

// Run runs the fallback until a negotiation succeeds, then the negotiated
// transport (which renegotiates by itself) until ctx is done.
func (a *autoTransport) Run(ctx context.Context, h pipeline.Handler) error {
	a.mu.Lock()
	cur := a.current
	a.mu.Unlock()
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- cur.Run(runCtx, h) }()

	next, ended, err := a.watch(runCtx, done)
	stop()
	if !ended {
		err = <-done
	}
	if next == nil {
		return err // ctx is done, or the fallback ended by itself
	}
	a.mu.Lock()
	a.current = next
	next.SetChannels(a.channels)
	a.mu.Unlock()
	a.log.Info("kick chat transport negotiated: switching from the Pusher fallback")
	return next.Run(ctx, h)
}

// watch negotiates every a.every until one succeeds (next is the new
// transport), the running transport ends (ended, with its error), or ctx is
// done.
func (a *autoTransport) watch(ctx context.Context, done <-chan error) (next pipeline.Transport, ended bool, err error) {
	t := time.NewTicker(a.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil, false, nil
		case err := <-done:
			return nil, true, err
		case <-t.C:
			a.mu.Lock()
			chs := a.channels
			a.mu.Unlock()
			if next := a.negotiate(ctx, chs); next != nil {
				return next, false, nil
			}
		}
	}
}
