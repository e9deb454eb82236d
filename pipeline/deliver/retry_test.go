package deliver

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cenkalti/backoff/v4"

	"kickwatch/pipeline"
	"kickwatch/store"
)

func TestRetryDelay_Schedule(t *testing.T) {
	const ms = time.Millisecond
	tests := []struct {
		n    int
		r    float64
		want time.Duration
	}{
		{1, 0.5, 1000 * ms},
		{2, 0.5, 1500 * ms},
		{3, 0.5, 2250 * ms},
		{6, 0.5, 7593750 * time.Microsecond},
		{7, 0.5, 8000 * ms}, // capped
		{500, 0.5, 8000 * ms},
		{0, 0.5, 1000 * ms}, // treated as the first
		{1, 0, 500 * ms},    // −50%
		{7, 0, 4000 * ms},
		{7, 0.999999999, 12000 * ms}, // +50% of the cap, as backoff does
	}
	for _, tt := range tests {
		got := retryDelay(tt.n, time.Second, 8*time.Second, tt.r)
		if d := got - tt.want; d < -2*ms || d > 2*ms {
			t.Errorf("retryDelay(%d, r=%v) = %v, want %v", tt.n, tt.r, got, tt.want)
		}
	}
}

func TestRetryDelay_WithinBackoffsRange(t *testing.T) {
	// backoff/v4 itself, with the worker's settings, draws each delay from
	// math/rand; every draw must lie inside retryDelay's r ∈ [0,1] range.
	for range 20 {
		b := backoff.NewExponentialBackOff(backoff.WithInitialInterval(time.Second),
			backoff.WithMaxInterval(60*time.Second), backoff.WithMaxElapsedTime(0))
		for n := 1; n <= 30; n++ {
			got := b.NextBackOff()
			lo := retryDelay(n, time.Second, 60*time.Second, 0)
			hi := retryDelay(n, time.Second, 60*time.Second, 1)
			if got == backoff.Stop || got < lo || got > hi {
				t.Fatalf("attempt %d: backoff gave %v, want in [%v, %v]", n, got, lo, hi)
			}
		}
	}
}

// failing answers every mention with a transient failure.
func failing(err error, after time.Duration) func(context.Context, int, []pipeline.Mention) []pipeline.Result {
	return func(_ context.Context, _ int, ms []pipeline.Mention) []pipeline.Result {
		return all(ms, pipeline.Result{Outcome: pipeline.Retry, Err: err, RetryAfter: after})
	}
}

func TestWorker_RetryScheduleGrowsAndIsCapped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sink := &fakeSink{name: "discord", batch: 10, script: failing(errors.New("HTTP 503"), 0)}
		r := newRig(t, sink, func(o *WorkerOptions) { o.RetryMax = 8 * time.Second })
		enqueue(t, r.store, "c", "k1", "k2")
		r.start()
		advance(50 * time.Second)

		calls := sink.Calls()
		want := []float64{1000, 1500, 2250, 3375, 5062.5, 7593.75, 8000, 8000}
		if len(calls) < len(want)+1 {
			t.Fatalf("%d calls, want > %d", len(calls), len(want))
		}
		for i, w := range want {
			got := calls[i+1].at.Sub(calls[i].at)
			if wd := time.Duration(w * float64(time.Millisecond)); got != wd {
				t.Errorf("wait after attempt %d = %v, want %v", i+1, got, wd)
			}
		}
		for k, e := range entries(t, r.store, "discord") {
			if e.State != store.StatePending || e.Attempts != len(calls) || e.LastError != "HTTP 503" {
				t.Errorf("%s: state %v attempts %d error %q, want pending %d %q", k, e.State, e.Attempts, e.LastError, len(calls), "HTTP 503")
			}
		}
		// One warn for the first failure, not one per attempt.
		if got := len(r.logs.Lines("delivery failed")); got != 1 {
			t.Errorf("%d failure lines, want 1", got)
		}
	})
}

func TestWorker_RetryAfterRespected(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sink := &fakeSink{name: "remote_db", batch: 10}
		sink.script = func(ctx context.Context, n int, ms []pipeline.Mention) []pipeline.Result {
			if n == 0 {
				return failing(errors.New("HTTP 503"), 30*time.Second)(ctx, n, ms)
			}
			return all(ms, pipeline.Result{Outcome: pipeline.Delivered})
		}
		r := newRig(t, sink, nil)
		enqueue(t, r.store, "c", "k1")
		r.start()
		advance(29 * time.Second)
		if got := len(sink.Calls()); got != 1 {
			t.Fatalf("%d calls before Retry-After, want 1", got)
		}
		advance(time.Minute)
		calls := sink.Calls()
		if len(calls) != 2 || calls[1].at.Sub(calls[0].at) != 30*time.Second {
			t.Fatalf("calls %v, want a second one 30s after the first", calls)
		}
		if e := entries(t, r.store, "remote_db")["k1"]; e.State != store.StateDelivered || e.Attempts != 1 {
			t.Errorf("state %v attempts %d, want delivered after 1 failed attempt", e.State, e.Attempts)
		}
	})
}

func TestWorker_BudgetSpentDeadLettersWithLastError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sink := &fakeSink{name: "discord", batch: 10, script: failing(errors.New("HTTP 502: bad gateway"), 0)}
		r := newRig(t, sink, func(o *WorkerOptions) {
			o.RetryBudget = 10 * time.Second
			o.RetryMax = 2 * time.Second
		})
		enqueue(t, r.store, "c", "k1")
		r.start()
		advance(time.Hour)

		e := entries(t, r.store, "discord")["k1"]
		if e.State != store.StateDead || e.LastError != "HTTP 502: bad gateway" {
			t.Fatalf("state %v error %q, want dead with the last error", e.State, e.LastError)
		}
		calls := sink.Calls()
		last := calls[len(calls)-1].at.Sub(calls[0].at)
		if last < 10*time.Second || last > 12*time.Second {
			t.Errorf("last attempt %v after the first, want just past the 10s budget", last)
		}
		if r.obs.dead != 1 {
			t.Errorf("dead letters observed=%d, want 1", r.obs.dead)
		}
	})
}
