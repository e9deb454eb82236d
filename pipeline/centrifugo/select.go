package centrifugo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"kickwatch/pipeline"
)

// The transport modes of kick.transport.
const (
	ModeAuto       = "auto"       // negotiate; Pusher when that fails or Kick offers Pusher
	ModeCentrifugo = "centrifugo" // always Centrifugo; the transport negotiates its URL itself
	ModePusher     = "pusher"     // never Centrifugo
)

// Reasons Select gives for Pusher (Choice.Reason wraps one of them).
var (
	ErrPusherMode    = errors.New(`kick.transport = "pusher"`)
	ErrPusherOffered = errors.New("kick's negotiation offered pusher first")
	ErrNegotiation   = errors.New("chat transport negotiation failed")
)

// Options configures Select.
type Options struct {
	// Mode is kick.transport: ModeAuto (also ""), ModeCentrifugo or ModePusher.
	Mode string
	// RealtimeURL is kick.realtime_url, the base of the negotiation and
	// guest token endpoints; default DefaultRealtimeURL.
	RealtimeURL string
	// Channels to watch. The negotiation asks about the first one with a
	// ChannelID (the channel id, not the chatroom id), or about Kick in
	// general when none has one.
	Channels []pipeline.Channel
	// Config is the transport's settings (ReadLimit, ConnectTimeout,
	// Breaker, Logger, …). Select fills in API.
	Config Config
	// APIClient makes the realtime API calls; default a client with
	// DefaultAPITimeout.
	APIClient *http.Client
	// NegotiateTimeout bounds auto's negotiation; default DefaultAPITimeout.
	NegotiateTimeout time.Duration
}

// Choice is Select's answer: a Centrifugo transport, or Pusher and why.
type Choice struct {
	// Transport is the Centrifugo transport with Options.Channels set,
	// ready to Run. Nil means: use the Pusher transport.
	Transport *Client
	// Reason is why Pusher, nil when Transport is set: ErrPusherMode,
	// ErrPusherOffered, or ErrNegotiation wrapping the failure (which
	// errors.Is ErrChallenge, ErrCountryBlocked, ErrRateLimited,
	// ErrNoProvider, ErrBadURL, … when it is one of those).
	Reason error
	// Offer is what the negotiation chose; zero when it did not run or failed.
	Offer Selection
}

// Select decides kick.transport. ModePusher answers Pusher at once.
// ModeCentrifugo returns the transport without any network call (it
// negotiates when it connects, and retries forever). ModeAuto asks Kick's
// negotiation endpoint once, with a new client id and both providers
// accepted, and takes the first connection kickwatch implements: Centrifugo
// (the transport then starts with that URL and client id) or Pusher; if the
// negotiation itself fails it answers Pusher with the reason. The error is
// for bad options, or ctx's when it is done.
func Select(ctx context.Context, o Options) (Choice, error) {
	log := o.Config.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "centrifugo")
	mode := o.Mode
	if mode == "" {
		mode = ModeAuto
	}
	if mode != ModeAuto && mode != ModeCentrifugo && mode != ModePusher {
		return Choice{}, fmt.Errorf("kick.transport %q: want %q, %q or %q", truncate(mode, 32), ModeAuto, ModeCentrifugo, ModePusher)
	}
	if mode == ModePusher {
		return Choice{Reason: ErrPusherMode}, nil
	}
	cfg := o.Config
	if cfg.API == nil {
		api, err := NewAPI(APIConfig{BaseURL: o.RealtimeURL, HTTPClient: o.APIClient, UserAgent: cfg.UserAgent, URLPolicy: cfg.URLPolicy})
		if err != nil {
			return Choice{}, err
		}
		cfg.API = api
	}
	c, err := New(cfg)
	if err != nil {
		return Choice{}, err
	}
	c.SetChannels(o.Channels)
	if mode == ModeCentrifugo {
		log.Info("chat transport selected", "provider", ProviderCentrifugo, "mode", mode)
		return Choice{Transport: c}, nil
	}

	timeout := o.NegotiateTimeout
	if timeout <= 0 {
		timeout = DefaultAPITimeout
	}
	nctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	sel, err := cfg.API.Connection(nctx, negotiationChannel(o.Channels), NewClientID())
	switch {
	case err != nil && ctx.Err() != nil:
		return Choice{}, ctx.Err()
	case err != nil:
		reason := fmt.Errorf("%w: %w", ErrNegotiation, err)
		log.Warn("chat transport negotiation failed, using pusher", "error", err)
		return Choice{Reason: reason}, nil
	case sel.Provider != ProviderCentrifugo:
		log.Info("chat transport selected", "provider", sel.Provider, "mode", mode)
		return Choice{Reason: ErrPusherOffered, Offer: sel}, nil
	}
	c.firstURL, c.firstClientID = sel.URL, sel.ClientID
	log.Info("chat transport selected", "provider", sel.Provider, "mode", mode, "url", sel.URL)
	return Choice{Transport: c, Offer: sel}, nil
}
