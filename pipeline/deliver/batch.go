package deliver

import (
	"context"
	"errors"
	"fmt"
	"time"

	"kickwatch/breaker"
	"kickwatch/pipeline"
	"kickwatch/store"
)

// batch is what one Deliver call came to.
type batch struct {
	ss          []store.Settlement
	retry       []int         // indexes (into ss) of failed rows, settled once the delay is known
	retryAfter  time.Duration // the longest Retry-After among them
	retryErr    error         // the last failure
	delivered   int
	dead        int
	rateLimited bool
	rlAfter     time.Duration
	rlRows      []int
	rlErr       error
	misconf     error
	answered    bool // the peer took a definite stand on some row (not a Retry)
	outcomes    [5]int
}

// deliverBatch decodes, delivers and settles rows, reports the breaker
// outcome, and returns the next batch when it could claim one in the same
// transaction.
func (w *Worker) deliverBatch(ctx context.Context, rows []store.Claimed, probe bool) (next []store.Claimed) {
	sink, gen := w.currentSink()
	var b batch
	b.ss = make([]store.Settlement, len(rows))
	ms := make([]pipeline.Mention, 0, len(rows))
	idx := make([]int, 0, len(rows))
	for i, r := range rows {
		m, err := pipeline.DecodeMention(r.Payload)
		if err != nil {
			b.ss[i] = store.Settlement{ID: r.ID, Verdict: store.Dead, Error: err.Error()}
			b.dead++
			w.log.Error("dead-lettered undecodable outbox row", "row", r.ID, "key", r.Key, "error", err)
			continue
		}
		ms = append(ms, m)
		idx = append(idx, i)
	}

	var results []pipeline.Result
	var cause error
	if len(ms) > 0 {
		dctx, cancel := w.deliveryContext(ctx)
		start := w.now()
		results = sink.Deliver(dctx, ms)
		latency := w.now().Sub(start)
		if dctx.Err() != nil {
			cause = context.Cause(dctx)
		}
		cancel()
		timedOut := errors.Is(cause, errDeliverTimeout)
		for _, r := range results {
			timedOut = timedOut || r.Timeout
		}
		w.obs.Attempt(w.name, len(ms), latency, timedOut)
	}

	now := w.now()
	shutdown := errors.Is(cause, errShutdownGrace)
	for j, i := range idx {
		res := pipeline.Result{Outcome: pipeline.Retry, Err: fmt.Errorf("sink returned %d results for %d mentions", len(results), len(ms))}
		if j < len(results) {
			res = results[j]
		}
		w.classify(&b, i, rows[i], res, now, shutdown)
	}
	w.finish(&b, rows, now)
	w.report(&b, now, gen, probe)

	for o, n := range b.outcomes {
		if n > 0 {
			w.obs.Outcome(w.name, pipeline.Outcome(o), n)
		}
	}
	if b.dead > 0 {
		w.obs.DeadLettered(w.name, b.dead)
	}
	return w.settle(ctx, &b, rows, probe)
}

// classify turns the sink's result for row i into its settlement (failed
// rows are finished by finish, once the batch's retry time is known).
func (w *Worker) classify(b *batch, i int, r store.Claimed, res pipeline.Result, now time.Time, shutdown bool) {
	errText := func(def string) string {
		if res.Err != nil {
			return res.Err.Error()
		}
		return def
	}
	if res.Outcome >= pipeline.Delivered && res.Outcome <= pipeline.Misconfigured {
		b.outcomes[res.Outcome]++
	}
	switch res.Outcome {
	case pipeline.Delivered:
		b.ss[i] = store.Settlement{ID: r.ID, Verdict: store.Deliver, RemoteRef: res.RemoteRef}
		b.delivered++
		b.answered = true
	case pipeline.Permanent:
		b.ss[i] = store.Settlement{ID: r.ID, Verdict: store.Dead, Error: errText("refused by the peer")}
		b.dead++
		b.answered = true
		w.log.Error("dead-lettered mention refused by the sink", "row", r.ID, "key", r.Key, "error", b.ss[i].Error)
	case pipeline.RateLimited:
		b.rateLimited = true
		b.rlAfter = max(b.rlAfter, res.RetryAfter)
		b.rlRows = append(b.rlRows, i)
		b.rlErr = res.Err
		b.answered = true
		b.ss[i] = store.Settlement{ID: r.ID, Verdict: store.Retry, Error: errText("rate limited")}
	case pipeline.Misconfigured:
		b.misconf = res.Err
		if b.misconf == nil {
			b.misconf = errors.New("sink misconfigured")
		}
		b.ss[i] = store.Settlement{ID: r.ID, Verdict: store.Retry, RetryAt: now, Error: b.misconf.Error()}
	default: // Retry, and anything unknown
		if shutdown || (errors.Is(res.Err, context.Canceled) && !res.Timeout) {
			// Cut short by shutdown: not the peer's failure, not an attempt.
			b.ss[i] = store.Settlement{ID: r.ID, Verdict: store.Retry, RetryAt: now, Error: r.LastError}
			return
		}
		err := res.Err
		if err == nil {
			err = errors.New("delivery failed")
		}
		b.retry = append(b.retry, i)
		b.retryAfter = max(b.retryAfter, res.RetryAfter)
		b.retryErr = err
		b.ss[i] = store.Settlement{ID: r.ID, Verdict: store.Retry, Error: err.Error(), Attempted: true}
	}
}

// finish gives the failed rows one retry time — from the most-tried row's
// attempts, not before any Retry-After — so they come due together and go
// out again in creation order; rows past the retry budget are dead-lettered.
// Rate-limited rows wait for the end of the pause.
func (w *Worker) finish(b *batch, rows []store.Claimed, now time.Time) {
	if len(b.retry) > 0 {
		attempts := 0
		for _, i := range b.retry {
			attempts = max(attempts, rows[i].Attempts)
		}
		delay := max(retryDelay(attempts+1, w.retryInitial, w.retryMax, w.rand()), b.retryAfter)
		at := now.Add(delay)
		for _, i := range b.retry {
			if now.Sub(rows[i].CreatedAt) >= w.budget {
				b.ss[i] = store.Settlement{ID: rows[i].ID, Verdict: store.Dead, Error: b.ss[i].Error}
				b.dead++
				w.log.Error("dead-lettered mention: retry budget spent", "row", rows[i].ID, "key", rows[i].Key,
					"attempts", rows[i].Attempts+1, "age", now.Sub(rows[i].CreatedAt).Round(time.Second), "error", b.ss[i].Error)
				continue
			}
			b.ss[i].RetryAt = at
		}
		w.holdUntil = at
	}
	if b.rateLimited {
		until := now.Add(max(b.rlAfter, minRateLimitPause))
		for _, i := range b.rlRows {
			b.ss[i].RetryAt = until
		}
		w.startRateLimit(now, until)
		msg := "rate limited"
		if b.rlErr != nil {
			msg = b.rlErr.Error()
		}
		w.setLastError(msg, now)
		w.log.Info("sink rate limited: pausing", "until", until, "wait", until.Sub(now))
	}
}

// report tells the breaker how the batch went (one Failure per failed batch),
// and pauses, logs and recovers the worker accordingly.
func (w *Worker) report(b *batch, now time.Time, gen uint64, probe bool) {
	switch {
	case len(b.retry) > 0:
		w.breaker.Failure()
	case b.delivered > 0:
		w.breaker.Success()
	default: // rate limited, misconfigured, permanent, shutdown: not the peer being down
		w.breaker.Release()
	}
	w.observeBreaker()

	if len(b.retry) > 0 {
		w.setLastError(b.retryErr.Error(), now)
		if log, count := w.fails.fail(now); log {
			w.log.Warn("delivery failed; retrying with backoff", "error", b.retryErr, "rows", len(b.retry),
				"failures", count, "retry_at", w.holdUntil)
		}
	} else if b.delivered > 0 {
		if ok, count, down := w.fails.recover(now); ok {
			w.log.Info("delivery recovered", "failures", count, "down_for", down.Round(time.Second))
		}
	}

	w.mu.Lock()
	stale := gen != w.gen // Resume or SetSink came while this batch was out
	was := w.misconf
	switch {
	case b.misconf != nil && !stale:
		w.misconf, w.lastErr, w.lastErrAt = true, b.misconf.Error(), now
		if !was || w.misconfErr != b.misconf.Error() {
			w.misconfErr, w.pausedSince = b.misconf.Error(), now
			w.mu.Unlock()
			w.reprobeAt = now.Add(max(w.reprobe, 0))
			w.log.Error("sink misconfigured: delivery paused, mentions stay queued; fix the sink's settings, then reload the config or restart",
				"error", b.misconf)
			if !was {
				w.obs.Paused(w.name, PauseMisconfigured)
			}
			return
		}
	case probe && was && b.answered && !stale:
		// The peer accepted the configuration again.
		w.misconf, w.misconfErr, w.pausedSince = false, "", time.Time{}
		w.mu.Unlock()
		w.log.Info("sink works again: delivery resumed")
		w.obs.Resumed(w.name, PauseMisconfigured)
		return
	}
	w.mu.Unlock()
}

// settle records the batch's settlements, claiming the next batch in the
// same transaction when the worker can go straight on. Settling uses a
// context detached from ctx so a shutdown does not lose the results.
func (w *Worker) settle(ctx context.Context, b *batch, rows []store.Claimed, probe bool) []store.Claimed {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.shutdownTimeout)
	defer cancel()
	w.mu.Lock()
	paused := w.misconf || w.now().Before(w.rlUntil)
	w.mu.Unlock()
	goOn := ctx.Err() == nil && !paused && !probe && len(b.retry) == 0 && b.misconf == nil &&
		w.breaker.State() == breaker.Closed
	if goOn {
		sink, _ := w.currentSink()
		next, err := w.outbox.SettleAndClaim(sctx, w.name, b.ss, max(sink.MaxBatch(), 1), w.lease)
		if err != nil {
			w.log.Error("settle deliveries; the rows will be sent again after the lease", "error", err, "rows", len(rows))
			return nil
		}
		return next
	}
	if err := w.outbox.Settle(sctx, w.name, b.ss); err != nil {
		w.log.Error("settle deliveries; the rows will be sent again after the lease", "error", err, "rows", len(rows))
	}
	return nil
}
