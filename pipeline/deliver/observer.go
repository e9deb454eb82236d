package deliver

import (
	"time"

	"kickwatch/breaker"
	"kickwatch/pipeline"
)

// Observer receives the worker's metrics. Implementations must be cheap and
// safe for concurrent use (workers of several sinks share one). Embed
// NopObserver to implement only some methods.
type Observer interface {
	// Attempt is one Deliver call: how many rows, how long, and whether it
	// ran out of time (the per-operation timeout count).
	Attempt(sink string, rows int, latency time.Duration, timedOut bool)
	// Outcome counts n rows the sink answered with o.
	Outcome(sink string, o pipeline.Outcome, n int)
	// DeadLettered counts rows given up on (permanent, undecodable, out of budget).
	DeadLettered(sink string, n int)
	// RateLimited adds time the sink spent paused by the peer's 429s.
	RateLimited(sink string, d time.Duration)
	// BreakerChanged reports a circuit-breaker transition the worker saw.
	BreakerChanged(sink string, from, to breaker.State)
	// Paused and Resumed bracket a pause (PauseRateLimited or PauseMisconfigured).
	Paused(sink, reason string)
	Resumed(sink, reason string)
}

// NopObserver discards everything.
type NopObserver struct{}

// Attempt implements Observer.
func (NopObserver) Attempt(string, int, time.Duration, bool) {}

// Outcome implements Observer.
func (NopObserver) Outcome(string, pipeline.Outcome, int) {}

// DeadLettered implements Observer.
func (NopObserver) DeadLettered(string, int) {}

// RateLimited implements Observer.
func (NopObserver) RateLimited(string, time.Duration) {}

// BreakerChanged implements Observer.
func (NopObserver) BreakerChanged(string, breaker.State, breaker.State) {}

// Paused implements Observer.
func (NopObserver) Paused(string, string) {}

// Resumed implements Observer.
func (NopObserver) Resumed(string, string) {}
