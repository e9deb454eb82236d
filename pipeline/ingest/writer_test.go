package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"kickwatch/pipeline"
	"kickwatch/pipeline/match"
)

// TestWriter_GroupCommit: matches arriving together from many sources are
// stored in fewer commits than matches, and all of them are stored.
func TestWriter_GroupCommit(t *testing.T) {
	st := openStore(t)
	rec := newRecOutbox(st)
	in := New(Options{Outbox: rec, Matcher: newTestMatcher(t, match.Options{})})
	in.SetChannels(testChannels())
	stop := run(t, in)

	const sources, each = 8, 50
	var wg sync.WaitGroup
	for s := range sources {
		wg.Go(func() {
			f := newFeeder(in) // a Decoder per goroutine, as each transport has its own
			for i := range each {
				f.feed(mentionFrame(msgID(fmt.Sprintf("gc%d", s), i)))
			}
		})
	}
	wg.Wait()
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	got := rec.wait(t, ctx, "every mention committed", func(s recStats) bool { return s.items >= sources*each })
	stop()

	if got.items != sources*each {
		t.Errorf("items committed=%d, want %d", got.items, sources*each)
	}
	if got.commits >= sources*each {
		t.Errorf("commits=%d for %d mentions, want fewer (group commit)", got.commits, sources*each)
	}
	if n := len(storedMentions(t, st)); n != sources*each {
		t.Errorf("rows=%d, want %d", n, sources*each)
	}
	if m := channelSnap(t, in.Snapshot(), testRoom).Frames[ResultMatched]; m != sources*each {
		t.Errorf("matched=%d, want %d", m, sources*each)
	}
	t.Logf("%d mentions in %d commits", got.items, got.commits)
}

// TestWriter_MaxBatchBoundsACommit: one transaction holds at most MaxBatch
// mentions, however long the batch window.
func TestWriter_MaxBatchBoundsACommit(t *testing.T) {
	st := openStore(t)
	rec := newRecOutbox(st)
	in := New(Options{Outbox: rec, Matcher: newTestMatcher(t, match.Options{}), BatchWindow: time.Hour, MaxBatch: 100})
	in.SetChannels(testChannels())
	f := newFeeder(in)
	for i := range 400 {
		f.feed(mentionFrame(msgID("mb", i)))
	}
	stop := run(t, in)
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	got := rec.wait(t, ctx, "four full batches", func(s recStats) bool { return s.commits >= 4 })
	stop()
	if want := []int{100, 100, 100, 100}; !slices.Equal(got.sizes, want) {
		t.Errorf("commit sizes=%v, want %v", got.sizes, want)
	}
}

// TestWriter_SubmitReturnsAfterCommit: Submit does not return before the
// mention is in the store, and reports whether the message matched.
func TestWriter_SubmitReturnsAfterCommit(t *testing.T) {
	st := openStore(t)
	rec := newRecOutbox(st)
	rec.gate = make(chan struct{})
	in := New(Options{Outbox: rec, Matcher: newTestMatcher(t, match.Options{})})
	in.SetChannels(testChannels())
	run(t, in)
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()

	msg := &pipeline.ChatMessage{ID: "submit-1", ChatroomID: testRoom, Channel: testSlug, Type: "message",
		Content: "@target_user ping", Sender: "Webhook_Sender", SenderID: 5}
	type result struct {
		ok  bool
		err error
	}
	res := make(chan result, 1)
	go func() {
		ok, err := in.Submit(ctx, msg, "webhook")
		res <- result{ok, err}
	}()
	rec.wait(t, ctx, "the commit to reach the store", func(s recStats) bool { return s.entered >= 1 })
	select {
	case r := <-res:
		t.Fatalf("Submit returned %v, %v while its commit was held", r.ok, r.err)
	default:
	}
	close(rec.gate)
	var r result
	select {
	case r = <-res:
	case <-ctx.Done():
		t.Fatal("Submit did not return after the commit")
	}
	if !r.ok || r.err != nil {
		t.Fatalf("Submit=%v, %v, want true, nil", r.ok, r.err)
	}
	// No waiting here: Submit's return is the promise.
	got, ok := storedMentions(t, st)["submit-1"]
	if !ok {
		t.Fatal("submit-1 is not in the store when Submit returned")
	}
	if got.Source != "webhook" || got.Kind != pipeline.KindMention || got.Channel != testSlug {
		t.Errorf("stored source=%q kind=%q channel=%q, want webhook mention %s", got.Source, got.Kind, got.Channel, testSlug)
	}

	// A message that does not match is not stored.
	plain := *msg
	plain.ID, plain.Content = "submit-2", "nothing to see"
	if ok, err := in.Submit(ctx, &plain, "webhook"); ok || err != nil {
		t.Errorf("Submit(no match)=%v, %v, want false, nil", ok, err)
	}
	// A message without a channel slug is stored under its chatroom id
	// instead of stalling the writer (the store refuses rows without one).
	noSlug := *msg
	noSlug.ID, noSlug.Channel = "submit-3", ""
	if ok, err := in.Submit(ctx, &noSlug, "webhook"); !ok || err != nil {
		t.Fatalf("Submit(no channel)=%v, %v, want true, nil", ok, err)
	}
	// Without an id there is no outbox key: an error, not a stall.
	noID := *msg
	noID.ID = ""
	if _, err := in.Submit(ctx, &noID, "webhook"); err == nil {
		t.Error("Submit(no id): no error")
	}
	rows := storedMentions(t, st)
	if _, ok := rows["submit-2"]; ok {
		t.Error("submit-2 (no match) is in the store")
	}
	if got := rows["submit-3"].Channel; got != fmt.Sprintf("chatroom-%d", testRoom) {
		t.Errorf("submit-3 channel=%q, want chatroom-%d", got, testRoom)
	}
	if len(rows) != 2 {
		t.Errorf("rows=%d, want 2", len(rows))
	}
}

// TestWriter_SubmitGivesUpWithCtx: a Submit whose ctx ends while the store
// is stuck returns the ctx error.
func TestWriter_SubmitGivesUpWithCtx(t *testing.T) {
	rec := newRecOutbox(openStore(t))
	rec.gate = make(chan struct{})
	in := New(Options{Outbox: rec, Matcher: newTestMatcher(t, match.Options{})})
	run(t, in)
	defer close(rec.gate)
	ctx, cancel := context.WithCancel(t.Context())
	res := make(chan error, 1)
	go func() {
		_, err := in.Submit(ctx, &pipeline.ChatMessage{ID: "s", Channel: testSlug, Content: "@Target_User", Sender: "x"}, "webhook")
		res <- err
	}()
	wctx, wcancel := context.WithTimeout(t.Context(), waitTimeout)
	defer wcancel()
	rec.wait(t, wctx, "the commit to reach the store", func(s recStats) bool { return s.entered >= 1 })
	cancel()
	select {
	case err := <-res:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Submit error=%v, want context.Canceled", err)
		}
	case <-wctx.Done():
		t.Fatal("Submit did not return after its ctx was cancelled")
	}
}

// TestWriter_FullBufferDropsCountedNeverBlocks: with the store stuck, the
// handler keeps returning (the socket keeps being read), overflow is counted
// per channel and warned about at most once a minute, and everything
// accepted before the overflow is stored once the store moves again.
func TestWriter_FullBufferDropsCountedNeverBlocks(t *testing.T) {
	st := openStore(t)
	rec := newRecOutbox(st)
	rec.gate = make(chan struct{})
	logs := &logRec{}
	var clock atomic.Int64
	clock.Store(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC).UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()) }
	in := New(Options{Outbox: rec, Matcher: newTestMatcher(t, match.Options{}), Buffer: 10, Now: now, Logger: slog.New(logs)})
	in.SetChannels(testChannels())
	run(t, in)
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	f := newFeeder(in)

	// The first mention is taken by the writer and held at the store.
	f.feed(mentionFrame(msgID("buf", 0)))
	rec.wait(t, ctx, "the first commit to reach the store", func(s recStats) bool { return s.entered >= 1 })

	// feedAll feeds frames from another goroutine: if the handler blocked,
	// the test fails instead of hanging.
	feedAll := func(from, to int) {
		t.Helper()
		done := make(chan struct{})
		go func() {
			defer close(done)
			for i := from; i < to; i++ {
				f.feed(mentionFrame(msgID("buf", i)))
			}
		}()
		select {
		case <-done:
		case <-ctx.Done():
			t.Fatal("the handler blocked on a full buffer")
		}
	}
	feedAll(1, 11)  // fills the buffer of 10
	feedAll(11, 20) // 9 dropped
	cs := channelSnap(t, in.Snapshot(), testRoom)
	if got := cs.Frames[ResultMatched]; got != 11 {
		t.Errorf("matched=%d, want 11", got)
	}
	if got := cs.Frames[ResultDropped]; got != 9 {
		t.Errorf("dropped=%d, want 9", got)
	}
	if got := in.Snapshot().Dropped(); got != 9 {
		t.Errorf("Snapshot.Dropped=%d, want 9", got)
	}
	const warn = "store is not keeping up"
	if got := logs.count(slog.LevelWarn, warn); got != 1 {
		t.Errorf("drop warnings=%d after 9 drops in one minute, want 1", got)
	}
	clock.Add(int64(59 * time.Second))
	feedAll(20, 21)
	if got := logs.count(slog.LevelWarn, warn); got != 1 {
		t.Errorf("drop warnings=%d 59s later, want 1", got)
	}
	clock.Add(int64(time.Second))
	feedAll(21, 23)
	if got := logs.count(slog.LevelWarn, warn); got != 2 {
		t.Errorf("drop warnings=%d a minute later, want 2", got)
	}

	close(rec.gate)
	rec.wait(t, ctx, "the accepted mentions stored", func(s recStats) bool { return s.items >= 11 })
	rows := storedMentions(t, st)
	for i := range 23 {
		id := msgID("buf", i)
		if _, ok := rows[id]; ok != (i < 11) {
			t.Errorf("%s stored=%v, want %v", id, ok, i < 11)
		}
	}
	if got := channelSnap(t, in.Snapshot(), testRoom).Frames[ResultDropped]; got != 12 {
		t.Errorf("dropped=%d, want 12", got)
	}
}

// TestWriter_ShutdownFlushesQueue: what is queued when Run's ctx ends is
// stored before Run returns. Run starts with its ctx already done, so its
// first select picks the queue or ctx.Done at random: both must store.
func TestWriter_ShutdownFlushesQueue(t *testing.T) {
	st := openStore(t)
	rec := newRecOutbox(st)
	m := newTestMatcher(t, match.Options{})
	const rounds, each = 12, 20
	for r := range rounds {
		in := New(Options{Outbox: rec, Matcher: m})
		in.SetChannels(testChannels())
		f := newFeeder(in)
		for i := range each {
			f.feed(mentionFrame(msgID(fmt.Sprintf("sd%d", r), i)))
		}
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if err := in.Run(ctx); err != nil {
			t.Fatalf("Run: %v", err)
		}
		if s := in.Snapshot(); s.Lost != 0 {
			t.Fatalf("round %d: lost=%d, want 0", r, s.Lost)
		}
	}
	if got := len(storedMentions(t, st)); got != rounds*each {
		t.Errorf("rows=%d, want %d", got, rounds*each)
	}
}

// TestWriter_ShutdownFinishesCommitUnderWay: a commit in progress when Run's
// ctx ends is not torn; it and what is queued behind it are stored.
func TestWriter_ShutdownFinishesCommitUnderWay(t *testing.T) {
	st := openStore(t)
	rec := newRecOutbox(st)
	rec.gate = make(chan struct{})
	in := New(Options{Outbox: rec, Matcher: newTestMatcher(t, match.Options{})})
	in.SetChannels(testChannels())
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- in.Run(ctx) }()
	wctx, wcancel := context.WithTimeout(t.Context(), waitTimeout)
	defer wcancel()

	f := newFeeder(in)
	f.feed(mentionFrame(msgID("uw", 0)))
	rec.wait(t, wctx, "the first commit to reach the store", func(s recStats) bool { return s.entered >= 1 })
	for i := 1; i < 5; i++ {
		f.feed(mentionFrame(msgID("uw", i)))
	}
	cancel()
	close(rec.gate)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-wctx.Done():
		t.Fatal("Run did not return after shutdown")
	}
	if got := len(storedMentions(t, st)); got != 5 {
		t.Errorf("rows=%d, want 5", got)
	}
	if s := in.Snapshot(); s.Lost != 0 {
		t.Errorf("lost=%d, want 0", s.Lost)
	}
}

// TestWriter_ShutdownWithStoreDownCountsLost: when the store cannot take
// the queue at shutdown, the mentions are counted lost and logged, once per
// batch, without waiting out a retry per batch.
func TestWriter_ShutdownWithStoreDownCountsLost(t *testing.T) {
	rec := newRecOutbox(openStore(t))
	rec.failN, rec.failErr = 1000, errors.New("enqueue: disk I/O error")
	logs := &logRec{}
	in := New(Options{Outbox: rec, Matcher: newTestMatcher(t, match.Options{}), MaxBatch: 10, Logger: slog.New(logs)})
	in.SetChannels(testChannels())
	f := newFeeder(in)
	for i := range 35 {
		f.feed(mentionFrame(msgID("down", i)))
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := in.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if got := in.Snapshot().Lost; got != 35 {
		t.Errorf("lost=%d, want 35", got)
	}
	if got := rec.stats().calls; got != 1 {
		t.Errorf("store attempts=%d, want 1 (give up on the rest once the store fails at shutdown)", got)
	}
	if got := logs.count(slog.LevelError, "mentions not stored at shutdown"); got != 4 {
		t.Errorf("lost-at-shutdown logs=%d, want 4 (one per batch of 10)", got)
	}
}
