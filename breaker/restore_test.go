package breaker

import (
	"testing"
	"time"
)

// TestBreaker_RestoreAfterRestart is the persistence contract: an open breaker
// restored after a restart stays open until RecoveryTimeout after it
// originally opened, then lets exactly one probe through.
func TestBreaker_RestoreAfterRestart(t *testing.T) {
	tests := []struct {
		name      string
		snapState State // state of the breaker when the process died
	}{
		{"open", Open},
		{"half-open with a probe in flight", HalfOpen},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newFakeClock()
			var persisted Snapshot
			store := &recorder{}
			first := newTestBreaker(t, clk, store)
			opened := clk.Now()
			trip(t, first)
			if tt.snapState == HalfOpen {
				clk.Advance(testTimeout + time.Second)
				allow(t, first, nil) // the probe that dies with the process
				wantState(t, first, HalfOpen)
			}
			changes := store.all()
			persisted = changes[len(changes)-1].snap
			if persisted != first.Snapshot() && tt.snapState == Open {
				t.Fatalf("persisted %+v, want the live snapshot %+v", persisted, first.Snapshot())
			}
			if persisted.State != tt.snapState || !persisted.OpenedAt.Equal(opened) {
				t.Fatalf("persisted %+v, want %v since %v", persisted, tt.snapState, opened)
			}

			// Restart: the new process comes up some time later.
			restartAt := opened.Add(testTimeout / 2)
			if tt.snapState == HalfOpen {
				restartAt = clk.Now().Add(10 * time.Second)
			}
			clk.Set(restartAt)
			rec := &recorder{}
			b := newTestBreaker(t, clk, rec)
			b.Restore(persisted)

			got := b.Snapshot()
			if got.State != Open || !got.OpenedAt.Equal(opened) || got.Probes != 0 {
				t.Fatalf("restored %+v, want open since %v with no probes", got, opened)
			}
			if len(rec.all()) != 0 {
				t.Fatalf("Restore called OnStateChange %d times, want 0", len(rec.all()))
			}
			readyAt := opened.Add(testTimeout)
			if got := b.ReadyAt(); !got.Equal(readyAt) {
				t.Fatalf("ReadyAt()=%v, want %v (from the original OpenedAt)", got, readyAt)
			}
			if tt.snapState == Open {
				allow(t, b, ErrOpen)
				clk.Set(readyAt.Add(-time.Nanosecond))
				allow(t, b, ErrOpen)
				clk.Set(readyAt)
			}
			// Past the original ReadyAt (not restart+timeout): one probe.
			allow(t, b, nil)
			allow(t, b, ErrTooManyProbes)
			wantState(t, b, HalfOpen)
			b.Success()
			wantState(t, b, Closed)
		})
	}
}

func TestBreaker_RestoreEdgeCases(t *testing.T) {
	clk := newFakeClock()
	now := clk.Now()
	tests := []struct {
		name       string
		snap       Snapshot
		wantState  State
		wantOpened time.Time
		wantFails  int
	}{
		{"closed keeps failures", Snapshot{State: Closed, Failures: 2}, Closed, time.Time{}, 2},
		{"closed drops OpenedAt", Snapshot{State: Closed, OpenedAt: now}, Closed, time.Time{}, 0},
		{"negative failures", Snapshot{State: Closed, Failures: -4}, Closed, time.Time{}, 0},
		{"unknown state", Snapshot{State: State(42), Failures: 1}, Closed, time.Time{}, 1},
		{"open in the future is clamped", Snapshot{State: Open, OpenedAt: now.Add(24 * time.Hour)}, Open, now, 0},
		{"long-expired open", Snapshot{State: Open, OpenedAt: now.Add(-time.Hour)}, Open, now.Add(-time.Hour), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newTestBreaker(t, clk, nil)
			b.Restore(tt.snap)
			got := b.Snapshot()
			if got.State != tt.wantState || !got.OpenedAt.Equal(tt.wantOpened) || got.Failures != tt.wantFails {
				t.Fatalf("restored %+v, want %v opened %v failures %d", got, tt.wantState, tt.wantOpened, tt.wantFails)
			}
		})
	}
}

func TestBreaker_ClockBackwards(t *testing.T) {
	clk := newFakeClock()
	b := newTestBreaker(t, clk, nil)
	trip(t, b)
	back := clk.Now().Add(-24 * time.Hour)
	clk.Set(back)
	allow(t, b, ErrOpen)
	// Counted from when the clock went back, not from the future OpenedAt.
	clk.Set(back.Add(testTimeout))
	allow(t, b, nil)
}
