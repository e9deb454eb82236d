package deliver

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"kickwatch/breaker"
	"kickwatch/pipeline"
	"kickwatch/store"
)

// flakyOutbox fails the first calls of each kind, then passes through.
type flakyOutbox struct {
	Outbox
	mu                sync.Mutex
	nextDueFails      int
	claimFails        int
	settleClaimsFails int
}

func (f *flakyOutbox) take(n *int) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if *n > 0 {
		*n--
		return true
	}
	return false
}

func (f *flakyOutbox) NextDue(ctx context.Context, sink string) (time.Time, bool, error) {
	if f.take(&f.nextDueFails) {
		return time.Time{}, false, errors.New("next due: disk I/O error")
	}
	return f.Outbox.NextDue(ctx, sink)
}

func (f *flakyOutbox) Claim(ctx context.Context, sink string, limit int, lease time.Duration) ([]store.Claimed, error) {
	if f.take(&f.claimFails) {
		return nil, errors.New("claim: database is locked")
	}
	return f.Outbox.Claim(ctx, sink, limit, lease)
}

func (f *flakyOutbox) SettleAndClaim(ctx context.Context, sink string, ss []store.Settlement, limit int, lease time.Duration) ([]store.Claimed, error) {
	if f.take(&f.settleClaimsFails) {
		return nil, errors.New("settle: disk is full")
	}
	return f.Outbox.SettleAndClaim(ctx, sink, ss, limit, lease)
}

func TestWorker_OutboxErrorsAreRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sink := &fakeSink{name: "discord", batch: 2}
		flaky := &flakyOutbox{nextDueFails: 2, claimFails: 1, settleClaimsFails: 1}
		r := newRig(t, sink, func(o *WorkerOptions) {
			flaky.Outbox = o.Outbox
			o.Outbox = flaky
			o.Lease = time.Minute
		})
		enqueue(t, r.store, "c", keys("k", 4)...)
		r.start()
		advance(10 * time.Minute)

		for k, e := range entries(t, r.store, "discord") {
			if e.State != store.StateDelivered {
				t.Errorf("%s: %v, want delivered", k, e.State)
			}
		}
		// The failed settle loses the first batch's verdicts: those rows go
		// out again once their lease has passed (at-least-once), nothing is lost.
		if got, want := sink.Keys(), []string{"k000", "k001", "k002", "k003", "k000", "k001"}; !slices.Equal(got, want) {
			t.Errorf("sent %v, want %v", got, want)
		}
		// next-due (2 failures in a row: logged once), claim, settle.
		if got := len(r.logs.Lines("level=ERROR")); got != 3 {
			t.Errorf("%d error lines, want 3", got)
		}
	})
}

func TestDispatcher_RunsWakesAndReports(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := openStore(t, "discord", "remote_db")
		var sinks []*fakeSink
		var ws []*Worker
		for _, name := range []string{"discord", "remote_db"} {
			s := &fakeSink{name: name, batch: 10}
			sinks = append(sinks, s)
			ws = append(ws, NewWorker(WorkerOptions{Sink: s, Outbox: st, PollInterval: time.Hour,
				Breaker: breaker.New(breaker.Settings{Name: name})}))
		}
		d := New(ws...)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- d.Run(ctx) }()
		synctest.Wait()

		enqueue(t, st, "c", "k1")
		d.Wake()
		synctest.Wait()
		for _, s := range sinks {
			if got := s.Keys(); !slices.Equal(got, []string{"k1"}) {
				t.Errorf("%s sent %v, want [k1]", s.name, got)
			}
		}
		var names []string
		for _, s := range d.Status() {
			names = append(names, s.Sink)
			if !s.Ready || s.Breaker != breaker.Closed {
				t.Errorf("%s: %+v, want ready and closed", s.Sink, s)
			}
		}
		if want := []string{"discord", "remote_db"}; !slices.Equal(names, want) {
			t.Errorf("status for %v, want %v", names, want)
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v, want nil", err)
		}
	})
}

func TestDispatcher_RunReportsMisuse(t *testing.T) {
	w := NewWorker(WorkerOptions{Sink: &fakeSink{name: "discord", batch: 1}})
	if err := New(w).Run(t.Context()); err == nil {
		t.Error("Run without outbox and breaker = nil, want an error")
	}
}

func TestWorker_SetSinkRejectsOtherName(t *testing.T) {
	w := NewWorker(WorkerOptions{Sink: &fakeSink{name: "discord", batch: 1}})
	if err := w.SetSink(&fakeSink{name: "remote_db", batch: 1}); err == nil {
		t.Error("SetSink with another name = nil, want an error")
	}
}

func TestWorker_OrderKeptAcrossRetry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sink := &fakeSink{name: "discord", batch: 2}
		sink.script = func(ctx context.Context, n int, ms []pipeline.Mention) []pipeline.Result {
			if n == 0 {
				return failing(errors.New("HTTP 503"), 0)(ctx, n, ms)
			}
			return all(ms, pipeline.Result{Outcome: pipeline.Delivered})
		}
		r := newRig(t, sink, nil)
		enqueue(t, r.store, "c", "k1", "k2")
		r.start()
		advance(500 * time.Millisecond) // newer rows arrive during the backoff
		enqueue(t, r.store, "c", "k3", "k4")
		r.w.Wake()
		advance(time.Minute)
		if got, want := sink.Keys(), []string{"k1", "k2", "k1", "k2", "k3", "k4"}; !slices.Equal(got, want) {
			t.Errorf("sent %v, want %v", got, want)
		}
	})
}
