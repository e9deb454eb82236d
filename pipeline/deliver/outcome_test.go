package deliver

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"kickwatch/breaker"
	"kickwatch/pipeline"
	"kickwatch/store"
)

func TestWorker_PermanentDeadLettersOnlyThatRow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sink := &fakeSink{name: "discord", batch: 10}
		sink.script = func(_ context.Context, _ int, ms []pipeline.Mention) []pipeline.Result {
			out := all(ms, pipeline.Result{Outcome: pipeline.Delivered})
			for i, m := range ms {
				if m.MessageID == "k2" {
					out[i] = pipeline.Result{Outcome: pipeline.Permanent, Err: errors.New(`HTTP 400: {"embeds": ["0"]}`)}
				}
			}
			return out
		}
		r := newRig(t, sink, nil)
		enqueue(t, r.store, "c", "k1", "k2", "k3")
		r.start()
		advance(time.Hour)

		es := entries(t, r.store, "discord")
		if e := es["k2"]; e.State != store.StateDead || e.LastError != `HTTP 400: {"embeds": ["0"]}` {
			t.Errorf("k2: %v %q, want dead with the peer's error", e.State, e.LastError)
		}
		for _, k := range []string{"k1", "k3"} {
			if es[k].State != store.StateDelivered {
				t.Errorf("%s: %v, want delivered", k, es[k].State)
			}
		}
		if got := len(sink.Calls()); got != 1 {
			t.Errorf("%d calls, want 1", got)
		}
	})
}

func TestWorker_UndecodablePayloadDeadLettered(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sink := &fakeSink{name: "discord", batch: 10}
		r := newRig(t, sink, nil)
		enqueue(t, r.store, "c", "k1")
		if _, err := r.store.Enqueue(t.Context(), store.Item{Key: "bad", Channel: "c", Payload: []byte("{not json")}); err != nil {
			t.Fatal(err)
		}
		enqueue(t, r.store, "c", "k3")
		r.start()

		es := entries(t, r.store, "discord")
		if e := es["bad"]; e.State != store.StateDead || !strings.HasPrefix(e.LastError, "decode mention:") {
			t.Errorf("bad: %v %q, want dead with the decode error", e.State, e.LastError)
		}
		if got, want := sink.Keys(), []string{"k1", "k3"}; !slices.Equal(got, want) {
			t.Errorf("sent %v, want %v", got, want)
		}
	})
}

func TestWorker_TimeoutIsCountedAndRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sink := &fakeSink{name: "discord", batch: 10}
		sink.script = func(ctx context.Context, n int, ms []pipeline.Mention) []pipeline.Result {
			if n == 0 {
				return hang(ctx, ms)
			}
			return all(ms, pipeline.Result{Outcome: pipeline.Delivered})
		}
		r := newRig(t, sink, nil) // Timeout 12s
		enqueue(t, r.store, "c", "k1")
		start := time.Now()
		r.start()
		advance(time.Minute)

		calls := sink.Calls()
		// Timed out at 12s, retried 1s later.
		if len(calls) != 2 || calls[1].at.Sub(start) != 13*time.Second {
			t.Fatalf("calls %v, want the retry at +13s", calls)
		}
		if r.obs.timeouts != 1 || r.obs.attempts != 2 {
			t.Errorf("timeouts %d of %d attempts, want 1 of 2", r.obs.timeouts, r.obs.attempts)
		}
		if e := entries(t, r.store, "discord")["k1"]; e.State != store.StateDelivered || e.Attempts != 1 {
			t.Errorf("k1: %v attempts %d, want delivered after 1 failed attempt", e.State, e.Attempts)
		}
	})
}

func TestWorker_MissingResultsAreRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sink := &fakeSink{name: "discord", batch: 10}
		sink.script = func(_ context.Context, n int, ms []pipeline.Mention) []pipeline.Result {
			if n == 0 {
				return all(ms[:1], pipeline.Result{Outcome: pipeline.Delivered})
			}
			return all(ms, pipeline.Result{Outcome: pipeline.Delivered})
		}
		r := newRig(t, sink, nil)
		enqueue(t, r.store, "c", "k1", "k2")
		r.start()
		advance(time.Minute)
		if got, want := sink.Keys(), []string{"k1", "k2", "k2"}; !slices.Equal(got, want) {
			t.Errorf("sent %v, want %v", got, want)
		}
		if e := entries(t, r.store, "discord")["k2"]; e.State != store.StateDelivered || e.Attempts != 1 {
			t.Errorf("k2: %v attempts %d, want delivered after 1 failed attempt", e.State, e.Attempts)
		}
	})
}

func TestWorker_ShutdownFinishesInFlightBatch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		started, finish := make(chan struct{}), make(chan struct{})
		ctxErr := make(chan error, 1)
		sink := &fakeSink{name: "remote_db", batch: 10}
		sink.script = func(ctx context.Context, _ int, ms []pipeline.Mention) []pipeline.Result {
			close(started)
			<-finish
			ctxErr <- ctx.Err()
			return all(ms, pipeline.Result{Outcome: pipeline.Delivered})
		}
		r := newRig(t, sink, func(o *WorkerOptions) { o.Timeout = time.Minute })
		enqueue(t, r.store, "c", "k1", "k2")
		r.start()
		<-started
		r.stop()
		advance(3 * time.Second) // the peer answers within the shutdown timeout
		close(finish)
		r.shutdown()

		if err := <-ctxErr; err != nil {
			t.Errorf("delivery context: %v, want not cancelled by the shutdown", err)
		}
		for k, e := range entries(t, r.store, "remote_db") {
			if e.State != store.StateDelivered {
				t.Errorf("%s: %v, want delivered", k, e.State)
			}
		}
	})
}

func TestWorker_ShutdownTimeoutEndsDelivery(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sink := &fakeSink{name: "remote_db", batch: 10}
		sink.script = func(ctx context.Context, _ int, ms []pipeline.Mention) []pipeline.Result { return hang(ctx, ms) }
		var brk *breaker.Breaker
		r := newRig(t, sink, func(o *WorkerOptions) {
			o.Timeout = time.Minute
			brk = breaker.New(breaker.Settings{Name: "remote_db", FailureThreshold: 1})
			o.Breaker = brk
		})
		enqueue(t, r.store, "c", "k1")
		r.start()
		advance(5 * time.Second)
		stopped := time.Now()
		r.shutdown()

		if got := time.Since(stopped); got != DefaultShutdownTimeout {
			t.Errorf("Run returned %v after the cancel, want %v", got, DefaultShutdownTimeout)
		}
		e := entries(t, r.store, "remote_db")["k1"]
		if e.State != store.StatePending || e.Attempts != 0 || e.NextAt.After(time.Now()) {
			t.Errorf("k1: %v attempts %d next %v, want pending, unattempted, due now", e.State, e.Attempts, e.NextAt)
		}
		if got := brk.State(); got != breaker.Closed {
			t.Errorf("breaker %v, want closed: a shutdown is not the peer's failure", got)
		}
		if got := len(r.logs.Lines("delivery failed")); got != 0 {
			t.Errorf("%d failure lines for a shutdown, want 0", got)
		}
	})
}
