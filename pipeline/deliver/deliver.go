// Package deliver drains the outbox to the sinks: one Worker per enabled sink
// claims due rows, delivers them under a timeout, and settles each row as
// delivered, retried with backoff, or dead-lettered. The failure policy —
// backoff, circuit breaker, pause on rate limits and on misconfiguration,
// dead letters — lives here, the same for every sink.
package deliver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"kickwatch/breaker"
	"kickwatch/pipeline"
	"kickwatch/store"
)

// Outbox is the part of the store a worker uses (see *store.Store).
type Outbox interface {
	Claim(ctx context.Context, sink string, limit int, lease time.Duration) ([]store.Claimed, error)
	Settle(ctx context.Context, sink string, ss []store.Settlement) error
	SettleAndClaim(ctx context.Context, sink string, ss []store.Settlement, limit int, lease time.Duration) ([]store.Claimed, error)
	NextDue(ctx context.Context, sink string) (due time.Time, ok bool, err error)
}

// Breaker is the sink's circuit breaker (see *breaker.Breaker). After Allow
// returns nil the worker reports exactly one of Success, Failure or Release.
type Breaker interface {
	Allow() error
	Success()
	Failure()
	Release()
	State() breaker.State
	ReadyAt() time.Time
}

// The store and the breaker are what the app passes in.
var (
	_ Outbox  = (*store.Store)(nil)
	_ Breaker = (*breaker.Breaker)(nil)
)

// Defaults for WorkerOptions.
const (
	// DefaultTimeout bounds one Deliver call when the config names none.
	DefaultTimeout = 15 * time.Second
	// DefaultRetryInitial is the first retry delay (before jitter).
	DefaultRetryInitial = time.Second
	// DefaultRetryMax caps the retry interval (jitter may add up to half of it).
	DefaultRetryMax = 60 * time.Second
	// DefaultRetryBudget is how old a failing row may get before it is
	// dead-lettered: long enough to ride out a day-long outage.
	DefaultRetryBudget = 24 * time.Hour
	// DefaultPollInterval is the longest a worker sleeps without a wake, so it
	// notices rows another process made due (e.g. `outbox retry`).
	DefaultPollInterval = time.Second
	// DefaultShutdownTimeout is how long an in-flight delivery may go on after
	// shutdown began.
	DefaultShutdownTimeout = 10 * time.Second
	// DefaultReprobeInterval is how often a misconfigured sink is tried with
	// one row: far below any peer's invalid-request limit (Discord: 10,000 per
	// 10 minutes), and it heals a sink whose peer was fixed without a reload.
	DefaultReprobeInterval = 10 * time.Minute

	// retryMultiplier is backoff/v4's default growth factor.
	retryMultiplier = 1.5
	// retryJitter is the ±fraction of randomization (backoff's RandomizationFactor).
	retryJitter = 0.5
	// minRateLimitPause applies when a 429 names no wait.
	minRateLimitPause = time.Second
	// failureLogEvery spaces "still failing" log lines.
	failureLogEvery = time.Minute
)

// WorkerOptions configure a Worker. Zero values take the defaults above.
type WorkerOptions struct {
	Sink    pipeline.Sink // required
	Outbox  Outbox        // required
	Breaker Breaker       // required

	Timeout         time.Duration // per Deliver call (Discord 12s, DB 15s from config)
	Lease           time.Duration // how long claimed rows stay invisible; default Timeout*2 + 30s
	RetryInitial    time.Duration // first retry interval
	RetryMax        time.Duration // cap of the retry interval
	RetryBudget     time.Duration // age (from enqueue) after which a failing row is dead-lettered
	PollInterval    time.Duration // longest sleep without a wake
	ShutdownTimeout time.Duration // grace for an in-flight delivery after ctx is cancelled
	// ReprobeInterval: while misconfigured, try one row this often; negative disables.
	ReprobeInterval time.Duration

	Now      func() time.Time // timestamps (waits use the runtime's timers); default time.Now
	Rand     func() float64   // jitter source in [0,1); default math/rand/v2.Float64
	Logger   *slog.Logger     // default discards
	Observer Observer         // metrics; default NopObserver
}

// Pause reasons reported by Status.
const (
	PauseRateLimited   = "rate_limited"
	PauseMisconfigured = "misconfigured"
)

// Status is a worker's state for readiness checks and the status command.
type Status struct {
	Sink           string
	Ready          bool          // false while the sink is misconfigured
	Paused         string        // "", PauseRateLimited or PauseMisconfigured
	PausedSince    time.Time     // zero when not paused
	PausedUntil    time.Time     // end of a rate-limit pause; zero otherwise
	Breaker        breaker.State // the circuit breaker's state
	BreakerReadyAt time.Time     // when an open breaker lets a probe through
	LastError      string        // the latest failure, rate limit or misconfiguration
	LastErrorAt    time.Time
}

// Worker delivers one sink's rows. Its methods are safe for concurrent use;
// Run runs once at a time.
type Worker struct {
	name    string
	outbox  Outbox
	breaker Breaker
	obs     Observer
	log     *slog.Logger
	now     func() time.Time
	rand    func() float64

	timeout, lease, shutdownTimeout time.Duration
	retryInitial, retryMax, budget  time.Duration
	poll, reprobe                   time.Duration

	wake    chan struct{} // size 1: rows were enqueued
	resume  chan struct{} // size 1: Resume or SetSink was called
	running atomic.Bool

	mu          sync.Mutex
	sink        pipeline.Sink
	gen         uint64 // bumped by Resume/SetSink: results of an older sink cannot pause the new one
	misconf     bool
	misconfErr  string
	pausedSince time.Time
	rlSince     time.Time // rate-limit pause start; zero when not rate limited
	rlUntil     time.Time
	lastErr     string
	lastErrAt   time.Time

	// Owned by the Run goroutine.
	reprobeAt   time.Time
	holdUntil   time.Time // after a failed batch: the sink backs off until then
	lastBreaker breaker.State
	storeFails  int
	fails       failureLog
}

// NewWorker returns a worker for o.Sink. Run reports missing required options.
func NewWorker(o WorkerOptions) *Worker {
	w := &Worker{
		outbox:          o.Outbox,
		breaker:         o.Breaker,
		obs:             o.Observer,
		log:             o.Logger,
		now:             o.Now,
		rand:            o.Rand,
		timeout:         orDefault(o.Timeout, DefaultTimeout),
		shutdownTimeout: orDefault(o.ShutdownTimeout, DefaultShutdownTimeout),
		retryInitial:    orDefault(o.RetryInitial, DefaultRetryInitial),
		retryMax:        orDefault(o.RetryMax, DefaultRetryMax),
		budget:          orDefault(o.RetryBudget, DefaultRetryBudget),
		poll:            orDefault(o.PollInterval, DefaultPollInterval),
		reprobe:         o.ReprobeInterval,
		wake:            make(chan struct{}, 1),
		resume:          make(chan struct{}, 1),
		sink:            o.Sink,
	}
	w.lease = orDefault(o.Lease, 2*w.timeout+30*time.Second)
	if w.reprobe == 0 {
		w.reprobe = DefaultReprobeInterval
	}
	if o.Sink != nil {
		w.name = o.Sink.Name()
	}
	if w.obs == nil {
		w.obs = NopObserver{}
	}
	if w.log == nil {
		w.log = slog.New(slog.DiscardHandler)
	}
	w.log = w.log.With("component", "deliver", "sink", w.name)
	if w.now == nil {
		w.now = time.Now
	}
	if w.rand == nil {
		w.rand = rand.Float64
	}
	if w.breaker != nil {
		w.lastBreaker = w.breaker.State()
	}
	return w
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// Name is the sink's name.
func (w *Worker) Name() string { return w.name }

// Wake tells the worker rows may be due. It never blocks; the enqueue path
// calls it after each commit.
func (w *Worker) Wake() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Resume ends a misconfiguration pause, e.g. after a config reload. Rows that
// waited are delivered in order; a rate-limit pause still runs out.
func (w *Worker) Resume() {
	w.mu.Lock()
	w.gen++
	was := w.misconf
	w.misconf, w.misconfErr, w.pausedSince = false, "", time.Time{}
	w.mu.Unlock()
	if was {
		w.log.Info("sink resumed")
		w.obs.Resumed(w.name, PauseMisconfigured)
	}
	select {
	case w.resume <- struct{}{}:
	default:
	}
	w.Wake()
}

// SetSink replaces the sink (built from a reloaded config) and resumes. The
// new sink must have the same name: the name keys the rows in the outbox.
func (w *Worker) SetSink(s pipeline.Sink) error {
	if s == nil {
		return errors.New("set sink: nil sink")
	}
	if s.Name() != w.name {
		return fmt.Errorf("set sink: name %q differs from %q", s.Name(), w.name)
	}
	w.mu.Lock()
	w.sink = s
	w.mu.Unlock()
	w.Resume()
	return nil
}

// Status is the worker's current state.
func (w *Worker) Status() Status {
	st := Status{Sink: w.name}
	if w.breaker != nil {
		st.Breaker = w.breaker.State()
		st.BreakerReadyAt = w.breaker.ReadyAt()
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	st.Ready = !w.misconf
	st.LastError, st.LastErrorAt = w.lastErr, w.lastErrAt
	switch {
	case w.misconf:
		st.Paused, st.PausedSince = PauseMisconfigured, w.pausedSince
	case !w.rlSince.IsZero() && w.now().Before(w.rlUntil):
		st.Paused, st.PausedSince, st.PausedUntil = PauseRateLimited, w.rlSince, w.rlUntil
	}
	return st
}

// currentSink returns the sink and its generation.
func (w *Worker) currentSink() (pipeline.Sink, uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.sink, w.gen
}

func (w *Worker) setLastError(msg string, at time.Time) {
	w.mu.Lock()
	w.lastErr, w.lastErrAt = msg, at
	w.mu.Unlock()
}
