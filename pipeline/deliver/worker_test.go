package deliver

import (
	"context"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"kickwatch/breaker"
	"kickwatch/pipeline"
	"kickwatch/store"
)

func TestWorker_DeliversInCreationOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sink := &fakeSink{name: "discord", batch: 4}
		r := newRig(t, sink, nil)
		var a, b []string
		for i := range 15 { // interleaved channels, one enqueue each
			ka, kb := keys("a", 15)[i], keys("b", 15)[i]
			enqueue(t, r.store, "chan-a", ka)
			enqueue(t, r.store, "chan-b", kb)
			a, b = append(a, ka), append(b, kb)
		}
		r.start()

		for _, c := range sink.Calls() {
			if len(c.keys) > 4 {
				t.Errorf("batch of %d, want ≤ 4", len(c.keys))
			}
		}
		var gotA, gotB []string
		for _, k := range sink.Keys() {
			if strings.HasPrefix(k, "a") {
				gotA = append(gotA, k)
			} else {
				gotB = append(gotB, k)
			}
		}
		if !slices.Equal(gotA, a) || !slices.Equal(gotB, b) {
			t.Errorf("order: got %v / %v, want %v / %v", gotA, gotB, a, b)
		}
		for k, e := range entries(t, r.store, "discord") {
			if e.State != store.StateDelivered || e.RemoteRef != "ref-"+k {
				t.Errorf("%s: state %v ref %q, want delivered ref-%s", k, e.State, e.RemoteRef, k)
			}
		}
		if got, want := r.obs.outcomes[pipeline.Delivered], 30; got != want {
			t.Errorf("delivered count=%d, want %d", got, want)
		}
	})
}

func TestWorker_WakeDeliversAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sink := &fakeSink{name: "discord", batch: 10}
		r := newRig(t, sink, nil) // PollInterval 1h: only a wake can explain a delivery
		r.start()
		advance(time.Minute)
		start := time.Now()
		enqueue(t, r.store, "c", "k1", "k2")
		r.w.Wake()
		synctest.Wait()
		calls := sink.Calls()
		if len(calls) != 1 || !calls[0].at.Equal(start) {
			t.Fatalf("calls=%v, want one at %v", calls, start)
		}
	})
}

func TestWorker_CancelWhileWaitingReturnsPromptly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, &fakeSink{name: "discord", batch: 1}, nil)
		r.start()
		start := time.Now()
		r.shutdown()
		if got := time.Since(start); got != 0 {
			t.Errorf("Run returned after %v, want at once", got)
		}
	})
}

// On the real clock, the store and the worker read time separately: rows the
// store reports due must be claimed, not waited for in ever shorter sleeps.
func TestWorker_RealClockDeliversWokenRows(t *testing.T) {
	s := openStore(t, "sink")
	got := make(chan []string, 1)
	sink := &fakeSink{name: "sink", batch: 10, script: func(_ context.Context, _ int, ms []pipeline.Mention) []pipeline.Result {
		keys := make([]string, len(ms))
		for i, m := range ms {
			keys[i] = m.MessageID
		}
		select {
		case got <- keys:
		default:
		}
		return all(ms, pipeline.Result{Outcome: pipeline.Delivered})
	}}
	w := NewWorker(WorkerOptions{Sink: sink, Outbox: s, Breaker: breaker.New(breaker.Settings{Name: "sink"}),
		PollInterval: time.Hour})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	defer func() { cancel(); <-done }()

	enqueue(t, s, "ch", "a", "b")
	w.Wake()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	select {
	case keys := <-got:
		if strings.Join(keys, ",") != "a,b" {
			t.Errorf("delivered %v, want [a b]", keys)
		}
	case <-deadline.C:
		t.Fatal("woken worker delivered nothing within 10s")
	}
}
