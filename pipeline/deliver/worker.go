package deliver

import (
	"context"
	"errors"
	"sync"
	"time"

	"kickwatch/breaker"
	"kickwatch/store"
)

// forever is a sleep with no timer: only ctx, a wake or a resume ends it.
const forever time.Duration = -1

var (
	errDeliverTimeout = errors.New("deliver timed out")
	errShutdownGrace  = errors.New("shutdown timeout reached")
)

// Run delivers due rows until ctx is cancelled. A delivery in flight at that
// moment goes on for up to ShutdownTimeout and its results are settled; then
// Run returns nil. Rows claimed but not settled are due again after the lease.
// Outbox errors are logged and retried with backoff; they do not end Run.
func (w *Worker) Run(ctx context.Context) error {
	if w.outbox == nil || w.breaker == nil || w.sink == nil {
		return errors.New("run deliver worker: sink, outbox and breaker are required")
	}
	if !w.running.CompareAndSwap(false, true) {
		return errors.New("run deliver worker " + w.name + ": already running")
	}
	defer w.running.Store(false)
	w.log.Debug("delivery worker started")

	var next []store.Claimed // claimed by the last SettleAndClaim, not yet delivered
	emptyClaim := false
	defer func() {
		w.release(ctx, next)
		w.endRateLimit(w.now())
		w.log.Debug("delivery worker stopped")
	}()
	for {
		limit, probe, ok := w.turn(ctx, &next, &emptyClaim)
		if !ok {
			return nil
		}
		rows := next
		next = nil
		if rows == nil {
			var err error
			rows, err = w.outbox.Claim(ctx, w.name, limit, w.lease)
			if err != nil {
				w.breaker.Release()
				if ctx.Err() != nil {
					return nil
				}
				w.storeFailed(ctx, "claim outbox rows", err)
				continue
			}
			w.storeFails = 0
			if len(rows) == 0 {
				w.breaker.Release()
				emptyClaim = true
				continue
			}
		} else if len(rows) > limit {
			w.release(ctx, rows[limit:])
			rows = rows[:limit]
		}
		emptyClaim = false
		next = w.deliverBatch(ctx, rows, probe)
	}
}

// turn waits until the worker may send: not paused, not backing off, rows due
// (unless *next already holds claimed rows) and a breaker permit, which the
// caller then owns. limit is how many rows to send: one as a half-open or
// misconfiguration probe, else the sink's MaxBatch. ok is false once ctx is done.
func (w *Worker) turn(ctx context.Context, next *[]store.Claimed, emptyClaim *bool) (limit int, probe, ok bool) {
	for {
		if ctx.Err() != nil {
			return 0, false, false
		}
		now := w.now()
		probe = false

		// A misconfigured sink waits for Resume or its next probe.
		w.mu.Lock()
		misconf := w.misconf
		w.mu.Unlock()
		if misconf {
			if w.reprobe < 0 || now.Before(w.reprobeAt) {
				d := forever
				if w.reprobe > 0 {
					d = w.reprobeAt.Sub(now)
				}
				if !w.sleep(ctx, d, nil, w.resume) {
					return 0, false, false
				}
				continue
			}
			probe = true
			w.reprobeAt = now.Add(w.reprobe)
		}

		// The peer's rate limit, then the backoff after a failed batch.
		if !probe {
			if until := w.rateLimitedUntil(); now.Before(until) {
				if !w.sleep(ctx, until.Sub(now), nil, nil) {
					return 0, false, false
				}
				continue
			}
			w.endRateLimit(now)
			if now.Before(w.holdUntil) {
				if !w.sleep(ctx, w.holdUntil.Sub(now), nil, nil) {
					return 0, false, false
				}
				continue
			}
		}

		// Rows due?
		if len(*next) == 0 {
			due, any, err := w.outbox.NextDue(ctx, w.name)
			if err != nil {
				if ctx.Err() != nil {
					return 0, false, false
				}
				w.storeFailed(ctx, "read next due time", err)
				continue
			}
			w.storeFails = 0
			var d time.Duration
			switch {
			case !any:
				d = w.poll
			case due.After(now):
				d = min(due.Sub(now), w.poll)
			case *emptyClaim:
				// Due, yet the last claim found nothing: do not spin.
				d, *emptyClaim = w.poll, false
			}
			if d > 0 {
				if !w.sleep(ctx, d, w.wake, nil) {
					return 0, false, false
				}
				continue
			}
		}

		// The circuit breaker.
		err := w.breaker.Allow()
		w.observeBreaker()
		if err != nil {
			w.release(ctx, *next)
			*next = nil
			d := w.poll
			if ready := w.breaker.ReadyAt(); ready.After(now) {
				d = ready.Sub(now) // nothing is sent while open: no polling either
			}
			if !w.sleep(ctx, d, nil, nil) {
				return 0, false, false
			}
			continue
		}
		sink, _ := w.currentSink()
		limit = max(sink.MaxBatch(), 1)
		if probe || w.breaker.State() == breaker.HalfOpen {
			limit = 1
		}
		return limit, probe, true
	}
}

// sleep waits d (forever: no timer), or for wake or resume (nil: never). It
// reports false when ctx is done.
func (w *Worker) sleep(ctx context.Context, d time.Duration, wake, resume <-chan struct{}) bool {
	var timeout <-chan time.Time
	if d >= 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-ctx.Done():
		return false
	case <-timeout:
	case <-wake:
	case <-resume:
	}
	return true
}

// storeFailed logs an outbox error and backs off before the next try.
func (w *Worker) storeFailed(ctx context.Context, op string, err error) {
	w.storeFails++
	if w.storeFails == 1 || w.storeFails%10 == 0 {
		w.log.Error(op, "error", err, "failures", w.storeFails)
	}
	w.sleep(ctx, retryDelay(w.storeFails, w.retryInitial, w.retryMax, w.rand()), nil, nil)
}

// release hands claimed rows back without counting an attempt, due at once
// (rather than after the lease). It runs on shutdown too, so it uses a
// context detached from ctx.
func (w *Worker) release(ctx context.Context, rows []store.Claimed) {
	if len(rows) == 0 {
		return
	}
	ss := make([]store.Settlement, len(rows))
	now := w.now()
	for i, r := range rows {
		ss[i] = store.Settlement{ID: r.ID, Verdict: store.Retry, RetryAt: now, Error: r.LastError}
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.shutdownTimeout)
	defer cancel()
	if err := w.outbox.Settle(sctx, w.name, ss); err != nil {
		w.log.Warn("release claimed rows; they are due again after the lease", "error", err, "rows", len(rows))
	}
}

// deliveryContext bounds one Deliver call by Timeout and, once ctx is
// cancelled, by ShutdownTimeout: the delivery is not torn by the cancel
// itself, so its results can be settled.
func (w *Worker) deliveryContext(ctx context.Context) (context.Context, context.CancelFunc) {
	base, cancelBase := context.WithCancelCause(context.WithoutCancel(ctx))
	dctx, cancel := context.WithTimeoutCause(base, w.timeout, errDeliverTimeout)
	var (
		mu    sync.Mutex
		done  bool
		timer *time.Timer
	)
	stop := context.AfterFunc(ctx, func() {
		mu.Lock()
		defer mu.Unlock()
		if !done {
			timer = time.AfterFunc(w.shutdownTimeout, func() { cancelBase(errShutdownGrace) })
		}
	})
	return dctx, func() {
		stop()
		mu.Lock()
		done = true
		if timer != nil {
			timer.Stop()
		}
		mu.Unlock()
		cancel()
		cancelBase(context.Canceled)
	}
}

// observeBreaker reports a breaker transition the worker sees.
func (w *Worker) observeBreaker() {
	st := w.breaker.State()
	if st == w.lastBreaker {
		return
	}
	from := w.lastBreaker
	w.lastBreaker = st
	w.obs.BreakerChanged(w.name, from, st)
	switch st {
	case breaker.Open:
		w.log.Warn("circuit breaker open: holding deliveries", "from", from.String(), "probe_at", w.breaker.ReadyAt())
	case breaker.HalfOpen:
		w.log.Info("circuit breaker half-open: sending one probe")
	case breaker.Closed:
		w.log.Info("circuit breaker closed")
	}
}

// rateLimitedUntil is the end of the current rate-limit pause.
func (w *Worker) rateLimitedUntil() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.rlUntil
}

// startRateLimit pauses the worker until until.
func (w *Worker) startRateLimit(now, until time.Time) {
	w.mu.Lock()
	fresh := w.rlSince.IsZero()
	if fresh {
		w.rlSince = now
	}
	if until.After(w.rlUntil) {
		w.rlUntil = until
	}
	w.mu.Unlock()
	if fresh {
		w.obs.Paused(w.name, PauseRateLimited)
	}
}

// endRateLimit closes a rate-limit pause that has run out (or is cut short
// by shutdown) and records the time it took.
func (w *Worker) endRateLimit(now time.Time) {
	w.mu.Lock()
	since, until := w.rlSince, w.rlUntil
	if since.IsZero() {
		w.mu.Unlock()
		return
	}
	w.rlSince = time.Time{}
	w.mu.Unlock()
	if now.After(until) {
		now = until
	}
	w.obs.RateLimited(w.name, now.Sub(since))
	w.obs.Resumed(w.name, PauseRateLimited)
}
