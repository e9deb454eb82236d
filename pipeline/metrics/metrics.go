// Package metrics exports kickwatch's state to Prometheus, under the
// kickwatch_ prefix, on a registry of its own (with the Go and process
// collectors).
//
// The chat side is read at scrape time from ingest's atomic counters, so the
// per-frame fast path makes no Prometheus call; the outbox summary is read
// from the store at most once per cache period; the dispatcher reports
// deliveries as they happen through the deliver.Observer that *Metrics
// implements. Label values are only channel slugs, sink, source and breaker
// names and fixed codes, each set bounded: channels are the configured ones
// ("other" for the rest), and any other name past a small cap, or not shaped
// like a name, is "other" too.
package metrics

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"kickwatch/breaker"
	"kickwatch/pipeline"
	"kickwatch/pipeline/deliver"
	"kickwatch/pipeline/ingest"
	"kickwatch/store"
)

// Defaults for Options.
const (
	// DefaultOutboxCacheTTL: a store summary counts every row, so scrapes
	// (every 15–60 s typically) and status-page refreshes share one.
	DefaultOutboxCacheTTL = 10 * time.Second
	// DefaultOutboxTimeout bounds one summary query; a busy writer must not
	// hang a scrape.
	DefaultOutboxTimeout = 2 * time.Second

	// maxSinks, maxSources, maxReasons and maxBreakers cap open label sets.
	maxSinks    = 16
	maxSources  = 8
	maxReasons  = 32
	maxBreakers = 16
	maxOps      = 16
	// maxInFlight scrapes at once; more get 503 rather than pile up on a Pi.
	maxInFlight = 2
)

// Options configure New. Every function may be nil; its metrics are then
// absent.
type Options struct {
	// Ingest returns the chat-side counters: (*ingest.Ingest).Snapshot.
	Ingest func() ingest.Snapshot
	// Outbox returns the store summary: (*store.Store).Stats. It is called at
	// most once per OutboxCacheTTL, under OutboxTimeout.
	Outbox func(ctx context.Context) (store.Stats, error)
	// Breakers returns every circuit breaker's snapshot (sinks' and sources').
	Breakers func() []breaker.Snapshot
	// Sinks are the configured sink names. When set, Observer calls for any
	// other name count under "other"; when empty, names are admitted as they
	// come, up to a small cap.
	Sinks []string

	OutboxCacheTTL time.Duration // default DefaultOutboxCacheTTL
	OutboxTimeout  time.Duration // default DefaultOutboxTimeout
	// Silence reports the daemon's silent-source alarm for
	// kickwatch_silence_alarm; nil means never on.
	Silence func() bool
	Version string // for kickwatch_build_info

	Now    func() time.Time // default time.Now
	Logger *slog.Logger     // default discards
}

// Metrics is kickwatch's Prometheus registry. It implements deliver.Observer;
// its methods are safe for concurrent use.
type Metrics struct {
	reg   *prometheus.Registry
	opts  Options
	log   *slog.Logger
	now   func() time.Time
	cache *statsCache

	sinks, sources, reasons, breakers, ops, targets *labelGuard

	latency     *prometheus.HistogramVec
	deliveries  *prometheus.CounterVec
	dead        *prometheus.CounterVec
	rateLimited *prometheus.CounterVec
	transitions *prometheus.CounterVec
	paused      *prometheus.GaugeVec
	timeouts    *prometheus.CounterVec
}

var _ deliver.Observer = (*Metrics)(nil)

// New builds the registry. Nothing runs in the background: snapshots are
// taken when a scrape asks.
func New(o Options) *Metrics {
	if o.OutboxCacheTTL <= 0 {
		o.OutboxCacheTTL = DefaultOutboxCacheTTL
	}
	if o.OutboxTimeout <= 0 {
		o.OutboxTimeout = DefaultOutboxTimeout
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	m := &Metrics{
		reg:  prometheus.NewRegistry(),
		opts: o,
		log:  log.With("component", "metrics"),
		now:  o.Now,
		cache: &statsCache{fetch: o.Outbox, ttl: o.OutboxCacheTTL, timeout: o.OutboxTimeout, now: o.Now,
			sem: make(chan struct{}, 1)},
		sources:  newOpenGuard(maxSources),
		reasons:  newOpenGuard(maxReasons),
		breakers: newOpenGuard(maxBreakers),
		ops:      newOpenGuard(maxOps),
		targets:  newOpenGuard(maxOps),
	}
	if len(o.Sinks) > 0 {
		m.sinks = newFixedGuard(o.Sinks)
	} else {
		m.sinks = newOpenGuard(maxSinks)
	}
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "kickwatch_delivery_duration_seconds",
		Help: "Time of one delivery call (a batch of rows) to a sink.",
		// Discord and PostgREST answer in 50 ms–1 s; timeouts are 12–15 s.
		Buckets: []float64{.025, .05, .1, .25, .5, 1, 2.5, 5, 10, 15, 30},
	}, []string{"sink"})
	m.deliveries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kickwatch_deliveries_total",
		Help: "Rows a sink answered, by result (delivered, retry, rate_limited, permanent, misconfigured).",
	}, []string{"sink", "result"})
	m.dead = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kickwatch_dead_letters_total",
		Help: "Rows given up on (permanent failure, undecodable, retry budget spent).",
	}, []string{"sink"})
	m.rateLimited = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kickwatch_rate_limited_seconds_total",
		Help: "Seconds a sink was paused by the peer's rate limits.",
	}, []string{"sink"})
	m.transitions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kickwatch_breaker_transitions_total",
		Help: "Circuit-breaker transitions a delivery worker saw, by new state.",
	}, []string{"breaker", "to"})
	m.paused = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "kickwatch_sink_paused",
		Help: "1 while a sink is paused for the reason (rate_limited, misconfigured).",
	}, []string{"sink", "reason"})
	m.timeouts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kickwatch_timeouts_total",
		Help: "Operations that ran out of time, by operation and target (e.g. deliver/discord).",
	}, []string{"operation", "target"})
	for _, s := range o.Sinks {
		m.initSink(m.sinks.value(s))
	}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.latency, m.deliveries, m.dead, m.rateLimited, m.transitions, m.paused, m.timeouts,
		(*snapshotCollector)(m),
	)
	return m
}

// initSink creates a configured sink's series at zero, so rates and alerts
// work before the first event.
func (m *Metrics) initSink(sink string) {
	m.latency.WithLabelValues(sink)
	for _, r := range outcomeNames {
		m.deliveries.WithLabelValues(sink, r)
	}
	m.dead.WithLabelValues(sink)
	m.rateLimited.WithLabelValues(sink)
	m.timeouts.WithLabelValues("deliver", sink)
	m.paused.WithLabelValues(sink, deliver.PauseRateLimited)
	m.paused.WithLabelValues(sink, deliver.PauseMisconfigured)
}

// Registry is the registry, for collectors of other components.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the exposition. Each request first refreshes the outbox
// summary under the request's context (at most once per cache period).
func (m *Metrics) Handler() http.Handler {
	h := promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog:            errorLog{m.log},
		ErrorHandling:       promhttp.ContinueOnError,
		MaxRequestsInFlight: maxInFlight,
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, _, err := m.cache.get(r.Context()); err != nil && err != errNoOutbox && r.Context().Err() == nil {
			m.log.Warn("read outbox stats", "error", err)
		}
		h.ServeHTTP(w, r)
	})
}

// OutboxStats is the store summary through the metrics cache, so the status
// page and scrapes share one query. On failure it returns the last good
// summary (zero at when none) with the error.
func (m *Metrics) OutboxStats(ctx context.Context) (st store.Stats, at time.Time, err error) {
	return m.cache.get(ctx)
}

// Silent reports whether the silence alarm is on.
func (m *Metrics) Silent() bool {
	return m.opts.Silence != nil && m.opts.Silence()
}

// Attempt implements deliver.Observer.
func (m *Metrics) Attempt(sink string, rows int, latency time.Duration, timedOut bool) {
	s := m.sinks.value(sink)
	m.latency.WithLabelValues(s).Observe(latency.Seconds())
	if timedOut {
		m.timeouts.WithLabelValues("deliver", s).Inc()
	}
}

// Outcome implements deliver.Observer.
func (m *Metrics) Outcome(sink string, o pipeline.Outcome, n int) {
	if n <= 0 {
		return
	}
	m.deliveries.WithLabelValues(m.sinks.value(sink), outcomeLabel(o)).Add(float64(n))
}

// DeadLettered implements deliver.Observer.
func (m *Metrics) DeadLettered(sink string, n int) {
	if n > 0 {
		m.dead.WithLabelValues(m.sinks.value(sink)).Add(float64(n))
	}
}

// RateLimited implements deliver.Observer.
func (m *Metrics) RateLimited(sink string, d time.Duration) {
	if d > 0 {
		m.rateLimited.WithLabelValues(m.sinks.value(sink)).Add(d.Seconds())
	}
}

// BreakerChanged implements deliver.Observer.
func (m *Metrics) BreakerChanged(sink string, from, to breaker.State) {
	m.transitions.WithLabelValues(m.breakers.value(sink), breakerStateLabel(to)).Inc()
}

// Paused implements deliver.Observer.
func (m *Metrics) Paused(sink, reason string) {
	m.paused.WithLabelValues(m.sinks.value(sink), pauseLabel(reason)).Set(1)
}

// Resumed implements deliver.Observer.
func (m *Metrics) Resumed(sink, reason string) {
	m.paused.WithLabelValues(m.sinks.value(sink), pauseLabel(reason)).Set(0)
}

// TimedOut counts an operation other than a delivery that ran out of time
// (e.g. "resolve", "connect"), for components that do not go through the
// Observer. operation and target must be fixed names, not outside input.
func (m *Metrics) TimedOut(operation, target string) {
	m.timeouts.WithLabelValues(m.ops.value(operation), m.targets.value(target)).Inc()
}

// outcomeNames are the result label values, in pipeline.Outcome order.
var outcomeNames = []string{
	pipeline.Delivered.String(), pipeline.Retry.String(), pipeline.RateLimited.String(),
	pipeline.Permanent.String(), pipeline.Misconfigured.String(),
}

func outcomeLabel(o pipeline.Outcome) string {
	if int(o) >= 0 && int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return other
}

func breakerStateLabel(s breaker.State) string {
	switch s {
	case breaker.Closed, breaker.Open, breaker.HalfOpen:
		return s.String()
	}
	return other
}

func pauseLabel(reason string) string {
	switch reason {
	case deliver.PauseRateLimited, deliver.PauseMisconfigured:
		return reason
	}
	return other
}

// errorLog adapts slog to promhttp's logger.
type errorLog struct{ l *slog.Logger }

func (e errorLog) Println(v ...any) { e.l.Warn("serve metrics", "error", fmt.Sprint(v...)) }
