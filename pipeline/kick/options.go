package kick

import (
	"log/slog"
	"net/http"
	"time"
)

// Defaults for Options; each zero field takes its default.
const (
	// DefaultURL is Kick's Pusher socket (app key in use since July 2024, reference §1.1).
	DefaultURL = "wss://ws-us2.pusher.com/app/32cbd69e4b950bf97679?protocol=7&client=js&version=8.4.0&flash=false"
	// DefaultConnectTimeout bounds dial plus handshake; a Pi on a slow line needs some room.
	DefaultConnectTimeout = 30 * time.Second
	// DefaultPingInterval is how long the socket may stay silent before we ping
	// (Pusher's own recommendation is 120 s; Kick's activity_timeout is 120 s).
	DefaultPingInterval = 30 * time.Second
	// DefaultPongTimeout is how long to wait for any frame after a ping.
	DefaultPongTimeout = 10 * time.Second
	// DefaultMaxFrameBytes bounds one frame; chat frames are ~1 KiB.
	DefaultMaxFrameBytes = 256 << 10
	// DefaultHardFrameBytes is where a message is so large that reading it to
	// the end is not worth it and the connection is dropped instead.
	DefaultHardFrameBytes = 16 << 20
	// DefaultWriteTimeout bounds one frame write (subscribe, ping, pong).
	DefaultWriteTimeout = 10 * time.Second
	// DefaultBackoffInitial and DefaultBackoffMax bound reconnect waits.
	DefaultBackoffInitial = 1 * time.Second
	DefaultBackoffMax     = 60 * time.Second
	// DefaultRefusedBackoffMin/Max bound the wait after a 4000–4099 close
	// (the spec says reconnecting unchanged will not succeed; try rarely).
	DefaultRefusedBackoffMin = 5 * time.Minute
	DefaultRefusedBackoffMax = 30 * time.Minute
	// DefaultHealthyAfter is how long a connection must stay up before the
	// reconnect backoff starts again from DefaultBackoffInitial.
	DefaultHealthyAfter = 60 * time.Second
	// DefaultMinReconnectInterval rate-limits dials, even for 42xx "reconnect now".
	DefaultMinReconnectInterval = 1 * time.Second
	// DefaultReconnectLogEvery rate-limits the "reconnecting" log line.
	DefaultReconnectLogEvery = 1 * time.Minute
)

// Breaker is the connection circuit breaker the transport consults before
// each dial; *breaker.Breaker satisfies it. After Allow returns nil exactly one
// of Success, Failure or Release is reported.
type Breaker interface {
	Allow() error
	Success()
	Failure()
	Release()
	// ReadyAt is when an open breaker lets a probe through (zero when not open).
	ReadyAt() time.Time
}

// Options configure a Transport. The zero value of each field means its default.
type Options struct {
	URL                  string        // Pusher socket URL; DefaultURL
	ConnectTimeout       time.Duration // dial + WebSocket handshake
	PingInterval         time.Duration // client side idle time before pusher:ping (min with server activity_timeout)
	PongTimeout          time.Duration // wait for any frame after a ping
	WriteTimeout         time.Duration // one frame write
	MaxFrameBytes        int64         // larger frames are discarded and counted, the connection stays
	HardFrameBytes       int64         // larger messages drop the connection
	BackoffInitial       time.Duration // first reconnect wait (jittered)
	BackoffMax           time.Duration // cap of the exponential reconnect wait
	RefusedBackoffMin    time.Duration // first wait after a 4000–4099 close
	RefusedBackoffMax    time.Duration // cap after repeated 4000–4099 closes
	HealthyAfter         time.Duration // uptime after which the backoff resets
	MinReconnectInterval time.Duration // at most one dial per this interval
	ReconnectLogEvery    time.Duration // at most one "reconnecting" line per this interval (others at debug)
	// SubscribeEarly sends subscriptions right after the socket opens instead
	// of after pusher:connection_established (both are accepted by Pusher).
	SubscribeEarly bool
	// Header is added to the handshake request (e.g. Origin, User-Agent).
	Header http.Header
	// HTTPClient dials the socket (tests, proxies); nil uses http.DefaultClient's transport.
	HTTPClient *http.Client
	// Breaker guards dials; nil means none.
	Breaker Breaker
	Logger  *slog.Logger
	// Now is the wall clock for Event.Received; default time.Now.
	Now func() time.Time
	// After returns a channel that fires after d; default a time.Timer. Tests
	// inject it to observe and skip reconnect waits.
	After func(d time.Duration) <-chan time.Time
}

func (o Options) withDefaults() Options {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if o.URL == "" {
		o.URL = DefaultURL
	}
	def(&o.ConnectTimeout, DefaultConnectTimeout)
	def(&o.PingInterval, DefaultPingInterval)
	def(&o.PongTimeout, DefaultPongTimeout)
	def(&o.WriteTimeout, DefaultWriteTimeout)
	def(&o.BackoffInitial, DefaultBackoffInitial)
	def(&o.BackoffMax, DefaultBackoffMax)
	def(&o.RefusedBackoffMin, DefaultRefusedBackoffMin)
	def(&o.RefusedBackoffMax, DefaultRefusedBackoffMax)
	def(&o.HealthyAfter, DefaultHealthyAfter)
	def(&o.MinReconnectInterval, DefaultMinReconnectInterval)
	def(&o.ReconnectLogEvery, DefaultReconnectLogEvery)
	if o.MaxFrameBytes <= 0 {
		o.MaxFrameBytes = DefaultMaxFrameBytes
	}
	if o.HardFrameBytes <= 0 {
		o.HardFrameBytes = DefaultHardFrameBytes
	}
	if o.HardFrameBytes < o.MaxFrameBytes {
		o.HardFrameBytes = o.MaxFrameBytes
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.After == nil {
		o.After = time.After
	}
	return o
}
