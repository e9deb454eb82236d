package ingest

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"kickwatch/pipeline/match"
	"kickwatch/store"
)

// TestWriter_StoreErrorsRetriedWithBackoff: while the store fails (disk
// full), the batch is retried with doubling waits, new matches queue behind
// it, the failure is logged once a minute at most and the recovery once, and
// nothing accepted is lost. synctest's clock makes the waits exact.
func TestWriter_StoreErrorsRetriedWithBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := openStore(t)
		rec := newRecOutbox(st)
		rec.failN, rec.failErr = 6, fmt.Errorf("enqueue: %w", store.ErrFull)
		logs := &logRec{}
		in := New(Options{Outbox: rec, Matcher: newTestMatcher(t, match.Options{}), Logger: slog.New(logs)})
		in.SetChannels(testChannels())
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- in.Run(ctx) }()

		f := newFeeder(in)
		for i := range 3 {
			f.feed(mentionFrame(msgID("full", i)))
		}
		rec.wait(t, ctx, "two failed attempts", func(s recStats) bool { return s.calls >= 2 })
		for i := 3; i < 5; i++ { // accepted during the outage
			f.feed(mentionFrame(msgID("full", i)))
		}
		got := rec.wait(t, ctx, "every mention stored", func(s recStats) bool { return s.items >= 5 })

		var waits []time.Duration
		for i := 1; i < 7; i++ {
			waits = append(waits, got.at[i].Sub(got.at[i-1]))
		}
		want := []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond,
			800 * time.Millisecond, 1600 * time.Millisecond, 3200 * time.Millisecond}
		if !slices.Equal(waits, want) {
			t.Errorf("waits between attempts=%v, want %v", waits, want)
		}
		if got.calls != 8 || !slices.Equal(got.sizes, []int{3, 2}) {
			t.Errorf("calls=%d sizes=%v, want 8 calls (6 failed) and commits of [3 2]", got.calls, got.sizes)
		}
		if n := logs.count(slog.LevelError, "store mentions"); n != 1 {
			t.Errorf("store error logs=%d in %v of outage, want 1 (rate-limited)", n, got.at[6].Sub(got.at[0]))
		}
		if n := logs.count(slog.LevelInfo, "store recovered"); n != 1 {
			t.Errorf("recovery logs=%d, want 1", n)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if n := len(storedMentions(t, st)); n != 5 {
			t.Errorf("rows=%d, want 5", n)
		}
		if s := in.Snapshot(); s.Lost != 0 || s.Dropped() != 0 {
			t.Errorf("lost=%d dropped=%d, want 0", s.Lost, s.Dropped())
		}
	})
}

// TestWriter_LongOutageLogsEveryMinute: a store that stays down is logged
// again after a minute, not on every retry.
func TestWriter_LongOutageLogsEveryMinute(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := newRecOutbox(openStore(t))
		rec.failN, rec.failErr = 1<<30, fmt.Errorf("enqueue: %w", store.ErrFull)
		logs := &logRec{}
		in := New(Options{Outbox: rec, Matcher: newTestMatcher(t, match.Options{}), Logger: slog.New(logs)})
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- in.Run(ctx) }()
		newFeeder(in).feed(mentionFrame("long-1"))
		start := time.Now()
		// 100+200+…+3200 ms, then 5 s each: 20 attempts take 6.3 s + 13×5 s.
		got := rec.wait(t, ctx, "20 attempts", func(s recStats) bool { return s.calls >= 20 })
		if d := got.at[19].Sub(start); d < time.Minute || d > 2*time.Minute {
			t.Fatalf("20 attempts took %v, want between 1 and 2 minutes (backoff capped at 5s)", d)
		}
		if n := logs.count(slog.LevelError, "store mentions"); n != 2 {
			t.Errorf("store error logs=%d over %v, want 2", n, got.at[19].Sub(start))
		}
		cancel()
		<-done
		if s := in.Snapshot(); s.Lost != 1 {
			t.Errorf("lost=%d at shutdown with the store down, want 1", s.Lost)
		}
	})
}

// TestWriter_DropWarningNotSilencedByStoreErrors: the warning about dropped
// mentions has its own rate limit; store errors logged just before do not
// swallow it.
func TestWriter_DropWarningNotSilencedByStoreErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := newRecOutbox(openStore(t))
		rec.failN, rec.failErr = 1<<30, fmt.Errorf("enqueue: %w", store.ErrFull)
		logs := &logRec{}
		in := New(Options{Outbox: rec, Matcher: newTestMatcher(t, match.Options{}), Buffer: 2, Logger: slog.New(logs)})
		in.SetChannels(testChannels())
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- in.Run(ctx) }()
		f := newFeeder(in)
		f.feed(mentionFrame("drop-0"))
		rec.wait(t, ctx, "three failed attempts", func(s recStats) bool { return s.calls >= 3 })
		for i := 1; i <= 4; i++ { // 2 fit in the buffer, 2 are dropped
			f.feed(mentionFrame(msgID("drop", i)))
		}
		if n := logs.count(slog.LevelWarn, "store is not keeping up"); n != 1 {
			t.Errorf("drop warnings=%d, want 1", n)
		}
		if n := channelSnap(t, in.Snapshot(), testRoom).Frames[ResultDropped]; n != 2 {
			t.Errorf("dropped=%d, want 2", n)
		}
		cancel()
		<-done
	})
}
