package deliver

import (
	"time"

	"github.com/cenkalti/backoff/v4"
)

// retryDelay is the wait after a row's n-th failed attempt (n ≥ 1): backoff/v4's
// ExponentialBackOff schedule — interval initial×1.5^(n−1), capped at max, then
// randomized by ±50% (so up to 1.5×max) — with MaxElapsedTime 0 so it never
// stops (v4's default gives up after 15 minutes). backoff draws its jitter from
// math/rand itself; here the random value r in [0,1) is passed in, so the delay
// is a pure function of the row's persisted attempts: a restart neither resets
// nor shortens the backoff, and tests are deterministic.
func retryDelay(n int, initial, max time.Duration, r float64) time.Duration {
	b := &backoff.ExponentialBackOff{
		InitialInterval:     initial,
		RandomizationFactor: 0, // applied below with r
		Multiplier:          retryMultiplier,
		MaxInterval:         max,
		MaxElapsedTime:      0,
		Stop:                backoff.Stop,
		Clock:               backoff.SystemClock,
	}
	b.Reset()
	iv := initial
	for i := 0; i < n; i++ {
		iv = b.NextBackOff()
		if iv >= max {
			break // it stays there
		}
	}
	// backoff's getRandomValueFromInterval.
	delta := retryJitter * float64(iv)
	lo, hi := float64(iv)-delta, float64(iv)+delta
	return time.Duration(lo + r*(hi-lo+1))
}

// failureLog rate-limits the "delivery failed" lines of one worker: the first
// failure at warn, then at most one line a minute with a count, and one
// "recovered" line when a delivery succeeds again.
type failureLog struct {
	failing bool
	since   time.Time
	count   int
	logged  time.Time
}

// fail records a failure and reports whether to log it (and how many so far).
func (f *failureLog) fail(now time.Time) (log bool, count int) {
	if !f.failing {
		*f = failureLog{failing: true, since: now, count: 1, logged: now}
		return true, 1
	}
	f.count++
	if now.Sub(f.logged) >= failureLogEvery {
		f.logged = now
		return true, f.count
	}
	return false, f.count
}

// recover ends a failing spell; ok reports whether there was one.
func (f *failureLog) recover(now time.Time) (ok bool, count int, down time.Duration) {
	if !f.failing {
		return false, 0, 0
	}
	ok, count, down = true, f.count, now.Sub(f.since)
	*f = failureLog{}
	return ok, count, down
}
