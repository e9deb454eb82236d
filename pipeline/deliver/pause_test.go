package deliver

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"kickwatch/breaker"
	"kickwatch/pipeline"
	"kickwatch/store"
)

func TestWorker_BreakerOpensHoldsAndProbes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sink := &fakeSink{name: "discord", batch: 10}
		sink.script = func(ctx context.Context, n int, ms []pipeline.Mention) []pipeline.Result {
			if n < 3 {
				return failing(errors.New("dial tcp: connection refused"), 0)(ctx, n, ms)
			}
			return all(ms, pipeline.Result{Outcome: pipeline.Delivered})
		}
		var brk *breaker.Breaker
		r := newRig(t, sink, func(o *WorkerOptions) {
			brk = breaker.New(breaker.Settings{Name: "discord", FailureThreshold: 3, RecoveryTimeout: time.Minute})
			o.Breaker = brk
			o.PollInterval = time.Second // polling must not send while open either
		})
		enqueue(t, r.store, "c", keys("k", 5)...)
		start := time.Now()
		r.start()
		advance(5 * time.Second)
		// Three failed batches of five rows: one Failure each, so it opens at the third.
		if got, want := brk.State(), breaker.Open; got != want {
			t.Fatalf("breaker %v after 3 failed batches, want %v", got, want)
		}
		opened := start.Add(2500 * time.Millisecond) // attempts at 0, 1s, 2.5s
		enqueue(t, r.store, "c", "late")
		r.w.Wake()
		advance(time.Until(opened.Add(time.Minute)) - time.Millisecond)
		if got := len(sink.Calls()); got != 3 {
			t.Fatalf("%d calls while open, want 3", got)
		}
		for k, e := range entries(t, r.store, "discord") {
			if want := 3; k != "late" && e.Attempts != want {
				t.Errorf("%s attempts=%d, want %d (waiting behind an open breaker is no attempt)", k, e.Attempts, want)
			}
		}
		if st := r.w.Status(); st.Breaker != breaker.Open || !st.BreakerReadyAt.Equal(opened.Add(time.Minute)) {
			t.Errorf("status breaker %v ready %v, want open until %v", st.Breaker, st.BreakerReadyAt, opened.Add(time.Minute))
		}

		advance(time.Second)
		calls := sink.Calls()
		if len(calls) < 4 || !calls[3].at.Equal(opened.Add(time.Minute)) || len(calls[3].keys) != 1 {
			t.Fatalf("calls %v: want a one-row probe at %v", calls, opened.Add(time.Minute))
		}
		if got, want := sink.Keys()[15:], append(keys("k", 5), "late"); !slices.Equal(got, want) {
			t.Errorf("after recovery sent %v, want %v", got, want)
		}
		if got := brk.State(); got != breaker.Closed {
			t.Errorf("breaker %v after a good probe, want closed", got)
		}
		if want := []string{"closed>open", "open>half_open", "half_open>closed"}; !slices.Equal(r.obs.breaker, want) {
			t.Errorf("transitions %v, want %v", r.obs.breaker, want)
		}
		if got := len(r.logs.Lines("delivery recovered")); got != 1 {
			t.Errorf("%d recovered lines, want 1", got)
		}
	})
}

func TestWorker_HalfOpenProbeFailureReopens(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sink := &fakeSink{name: "discord", batch: 10, script: failing(errors.New("HTTP 500"), 0)}
		var brk *breaker.Breaker
		r := newRig(t, sink, func(o *WorkerOptions) {
			brk = breaker.New(breaker.Settings{Name: "discord", FailureThreshold: 1, RecoveryTimeout: time.Minute})
			o.Breaker = brk
		})
		enqueue(t, r.store, "c", keys("k", 3)...)
		r.start()
		advance(3*time.Minute + time.Second)
		calls := sink.Calls()
		if len(calls) != 4 {
			t.Fatalf("%d calls in 3 minutes, want 4 (one, then a probe a minute)", len(calls))
		}
		for i, c := range calls[1:] {
			if len(c.keys) != 1 || c.at.Sub(calls[i].at) != time.Minute {
				t.Errorf("probe %d: %d rows after %v, want 1 row after 1m", i+1, len(c.keys), c.at.Sub(calls[i].at))
			}
		}
	})
}

func TestWorker_RateLimitPausesWithoutCounting(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sink := &fakeSink{name: "discord", batch: 10}
		sink.script = func(_ context.Context, n int, ms []pipeline.Mention) []pipeline.Result {
			if n == 0 {
				return all(ms, pipeline.Result{Outcome: pipeline.RateLimited, RetryAfter: 20 * time.Second,
					Err: errors.New("HTTP 429: You are being rate limited.")})
			}
			return all(ms, pipeline.Result{Outcome: pipeline.Delivered})
		}
		var brk *breaker.Breaker
		r := newRig(t, sink, func(o *WorkerOptions) {
			brk = breaker.New(breaker.Settings{Name: "discord", FailureThreshold: 1})
			o.Breaker = brk // one failure would open it
		})
		enqueue(t, r.store, "c", "k1", "k2")
		start := time.Now()
		r.start()
		advance(10 * time.Second)
		enqueue(t, r.store, "c", "k3")
		r.w.Wake()
		synctest.Wait()
		if got := len(sink.Calls()); got != 1 {
			t.Fatalf("%d calls during the pause, want 1", got)
		}
		st := r.w.Status()
		if st.Paused != PauseRateLimited || !st.PausedUntil.Equal(start.Add(20*time.Second)) || !st.Ready {
			t.Errorf("status %+v, want rate limited until +20s and ready", st)
		}
		for k, e := range entries(t, r.store, "discord") {
			if e.Attempts != 0 {
				t.Errorf("%s attempts=%d, want 0: a 429 is no attempt", k, e.Attempts)
			}
		}

		advance(20 * time.Second)
		calls := sink.Calls()
		if len(calls) != 2 || !calls[1].at.Equal(start.Add(20*time.Second)) || !slices.Equal(calls[1].keys, []string{"k1", "k2", "k3"}) {
			t.Fatalf("calls %v, want k1 k2 k3 at +20s", calls)
		}
		if snap := brk.Snapshot(); snap.State != breaker.Closed || snap.Failures != 0 {
			t.Errorf("breaker %v failures %d, want closed with 0", snap.State, snap.Failures)
		}
		if r.obs.rateLimited != 20*time.Second {
			t.Errorf("rate-limited time %v, want 20s", r.obs.rateLimited)
		}
		if want := []string{"pause:rate_limited", "resume:rate_limited"}; !slices.Equal(r.obs.pauses, want) {
			t.Errorf("pauses %v, want %v", r.obs.pauses, want)
		}
	})
}

func TestWorker_MisconfiguredPausesUntilFixed(t *testing.T) {
	const reason = "discord webhook deleted (404, code 10015): create a new webhook and set discord.webhook_url"
	tests := []struct {
		name string
		fix  func(r *rig, fixed *atomic.Bool)
	}{
		{"resume", func(r *rig, fixed *atomic.Bool) { fixed.Store(true); r.w.Resume() }},
		{"set sink", func(r *rig, _ *atomic.Bool) {
			if err := r.w.SetSink(&fakeSink{name: "discord", batch: 10}); err != nil {
				r.t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var fixed atomic.Bool
				sink := &fakeSink{name: "discord", batch: 10}
				sink.script = func(_ context.Context, _ int, ms []pipeline.Mention) []pipeline.Result {
					if fixed.Load() {
						return all(ms, pipeline.Result{Outcome: pipeline.Delivered})
					}
					return all(ms, pipeline.Result{Outcome: pipeline.Misconfigured, Err: errors.New(reason)})
				}
				r := newRig(t, sink, func(o *WorkerOptions) { o.PollInterval = time.Second })
				enqueue(t, r.store, "c", "k1", "k2")
				r.start()
				enqueue(t, r.store, "c", "k3")
				r.w.Wake()
				advance(3 * time.Hour)

				if got := len(sink.Calls()); got != 1 {
					t.Fatalf("%d calls while misconfigured, want 1", got)
				}
				st := r.w.Status()
				if st.Ready || st.Paused != PauseMisconfigured || st.LastError != reason || st.PausedSince.IsZero() {
					t.Errorf("status %+v, want not ready, paused misconfigured with the reason", st)
				}
				for k, e := range entries(t, r.store, "discord") {
					if e.State != store.StatePending || e.Attempts != 0 {
						t.Errorf("%s: %v attempts %d, want pending with 0 attempts", k, e.State, e.Attempts)
					}
				}
				if lines := r.logs.Lines("misconfigured"); len(lines) != 1 || !strings.Contains(lines[0], "10015") {
					t.Errorf("misconfiguration lines %q, want one naming the reason", lines)
				}

				tt.fix(r, &fixed)
				synctest.Wait()
				for k, e := range entries(t, r.store, "discord") {
					if e.State != store.StateDelivered {
						t.Errorf("%s: %v after the fix, want delivered", k, e.State)
					}
				}
				if st := r.w.Status(); !st.Ready || st.Paused != "" {
					t.Errorf("status %+v after the fix, want ready", st)
				}
				if want := []string{"pause:misconfigured", "resume:misconfigured"}; !slices.Equal(r.obs.pauses, want) {
					t.Errorf("pauses %v, want %v", r.obs.pauses, want)
				}
			})
		})
	}
}

func TestWorker_MisconfiguredReprobes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		sink := &fakeSink{name: "discord", batch: 10}
		sink.script = func(_ context.Context, _ int, ms []pipeline.Mention) []pipeline.Result {
			if time.Since(start) < 15*time.Minute {
				return all(ms, pipeline.Result{Outcome: pipeline.Misconfigured, Err: errors.New("HTTP 401: invalid webhook token")})
			}
			return all(ms, pipeline.Result{Outcome: pipeline.Delivered})
		}
		r := newRig(t, sink, func(o *WorkerOptions) { o.ReprobeInterval = 10 * time.Minute })
		enqueue(t, r.store, "c", keys("k", 3)...)
		r.start()
		advance(time.Hour)

		calls := sink.Calls()
		var got []time.Duration
		var sizes []int
		for _, c := range calls {
			got, sizes = append(got, c.at.Sub(start)), append(sizes, len(c.keys))
		}
		if want := []time.Duration{0, 10 * time.Minute, 20 * time.Minute, 20 * time.Minute}; !slices.Equal(got, want) {
			t.Errorf("calls at %v, want %v", got, want)
		}
		if want := []int{3, 1, 1, 2}; !slices.Equal(sizes, want) {
			t.Errorf("batch sizes %v, want %v", sizes, want)
		}
		if st := r.w.Status(); !st.Ready {
			t.Errorf("status %+v, want ready after a good probe", st)
		}
		if got := len(r.logs.Lines("misconfigured")); got != 1 {
			t.Errorf("%d misconfiguration lines, want 1", got)
		}
	})
}
