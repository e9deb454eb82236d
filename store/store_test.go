package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"kickwatch/breaker"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func openTest(t *testing.T, o Options) (*Store, *clock) {
	t.Helper()
	c := newClock()
	if o.Now == nil {
		o.Now = c.Now
	}
	if o.Sinks == nil {
		o.Sinks = []string{"discord", "remote_db"}
	}
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "k.db"), o)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s, c
}

func item(key, ch string) Item {
	return Item{Key: key, Channel: ch, Payload: []byte(`{"message_id":"` + key + `"}`)}
}

func mustEnqueue(t *testing.T, s *Store, items ...Item) EnqueueResult {
	t.Helper()
	r, err := s.EnqueueBatch(t.Context(), items)
	if err != nil {
		t.Fatalf("enqueue: %v", err)
	}
	return r
}

func keys(cs []Claimed) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Key)
	}
	return out
}

func TestOutbox_EnqueueIsIdempotent(t *testing.T) {
	s, _ := openTest(t, Options{})
	r := mustEnqueue(t, s, item("a", "ch"), item("b", "ch"), item("a", "ch"))
	if r.Inserted != 2 || r.Duplicates != 1 {
		t.Fatalf("inserted=%d duplicates=%d, want 2 and 1", r.Inserted, r.Duplicates)
	}
	r = mustEnqueue(t, s, item("b", "other"))
	if r.Inserted != 0 || r.Duplicates != 1 {
		t.Fatalf("repeat: inserted=%d duplicates=%d, want 0 and 1", r.Inserted, r.Duplicates)
	}
	st, err := s.Stats(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if st.Messages != 2 || st.Undelivered != 2 {
		t.Fatalf("messages=%d undelivered=%d, want 2 and 2", st.Messages, st.Undelivered)
	}
	for _, ss := range st.Sinks {
		if ss.Pending != 2 {
			t.Errorf("sink %s pending=%d, want 2", ss.Sink, ss.Pending)
		}
	}
}

// A batch's deliveries are inserted by one statement over the batch's id
// range: duplicates anywhere in the batch, and rows from earlier batches,
// must each end up with exactly one delivery per sink.
func TestOutbox_BatchWithDuplicatesGetsOneDeliveryPerSink(t *testing.T) {
	s, _ := openTest(t, Options{})
	mustEnqueue(t, s, item("x", "ch"))
	r := mustEnqueue(t, s, item("a", "ch"), item("x", "ch"), item("b", "other"), item("a", "ch"), item("c", "ch"))
	if r.Inserted != 3 || r.Duplicates != 2 {
		t.Fatalf("inserted=%d duplicates=%d, want 3 and 2", r.Inserted, r.Duplicates)
	}
	mustEnqueue(t, s, item("d", "ch"))
	for _, sink := range []string{"discord", "remote_db"} {
		got, err := s.Claim(t.Context(), sink, 100, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(keys(got)) != "[x a b c d]" {
			t.Errorf("%s claimed %v, want [x a b c d]", sink, keys(got))
		}
	}
}

func TestOutbox_ClaimInCreationOrderAndLeases(t *testing.T) {
	s, c := openTest(t, Options{})
	ctx := t.Context()
	for i := range 5 {
		mustEnqueue(t, s, item(fmt.Sprintf("m%d", i), "ch"))
		c.Add(time.Millisecond)
	}
	got, err := s.Claim(ctx, "discord", 3, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(keys(got)) != "[m0 m1 m2]" {
		t.Fatalf("claimed %v, want [m0 m1 m2]", keys(got))
	}
	if string(got[0].Payload) != `{"message_id":"m0"}` {
		t.Fatalf("payload=%s", got[0].Payload)
	}
	// Leased rows are not claimed again; the other sink is independent.
	got, _ = s.Claim(ctx, "discord", 10, time.Minute)
	if fmt.Sprint(keys(got)) != "[m3 m4]" {
		t.Fatalf("second claim %v, want [m3 m4]", keys(got))
	}
	got, _ = s.Claim(ctx, "remote_db", 10, time.Minute)
	if len(got) != 5 {
		t.Fatalf("remote_db claimed %d, want 5", len(got))
	}
	// Nothing due until the lease runs out; then everything is due again.
	if got, _ = s.Claim(ctx, "discord", 10, time.Minute); len(got) != 0 {
		t.Fatalf("claimed %v while leased", keys(got))
	}
	c.Add(time.Minute + time.Millisecond)
	got, _ = s.Claim(ctx, "discord", 10, time.Minute)
	if fmt.Sprint(keys(got)) != "[m0 m1 m2 m3 m4]" {
		t.Fatalf("after lease %v, want all five", keys(got))
	}
}

func TestOutbox_SettleMovesRowsToHistory(t *testing.T) {
	s, c := openTest(t, Options{})
	ctx := t.Context()
	mustEnqueue(t, s, item("a", "ch"), item("b", "ch"), item("c", "ch"))
	d, _ := s.Claim(ctx, "discord", 10, time.Minute)
	r, _ := s.Claim(ctx, "remote_db", 10, time.Minute)
	err := s.Settle(ctx, "discord", []Settlement{
		{ID: d[0].ID, Verdict: Deliver, RemoteRef: "111"},
		{ID: d[1].ID, Verdict: Retry, RetryAt: c.Now().Add(time.Hour), Error: "500", Attempted: true},
		{ID: d[2].ID, Verdict: Dead, Error: "400 bad embed"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Settle(ctx, "remote_db", []Settlement{{ID: r[0].ID, Verdict: Deliver}, {ID: r[2].ID, Verdict: Deliver}}); err != nil {
		t.Fatal(err)
	}
	st, _ := s.Stats(ctx)
	// a: done at both; b: pending at both; c: dead + delivered = done.
	if st.Undelivered != 1 {
		t.Fatalf("undelivered=%d, want 1", st.Undelivered)
	}
	if s.total != 1 || s.undelivered["ch"] != 1 {
		t.Fatalf("counters total=%d ch=%d, want 1 and 1", s.total, s.undelivered["ch"])
	}
	ents, err := s.List(ctx, Filter{Sink: "discord"})
	if err != nil {
		t.Fatal(err)
	}
	byKey := map[string]Entry{}
	for _, e := range ents {
		byKey[e.Key] = e
	}
	if e := byKey["a"]; e.State != StateDelivered || e.RemoteRef != "111" || e.DeliveredAt.IsZero() {
		t.Errorf("a: %+v", e)
	}
	if e := byKey["b"]; e.State != StatePending || e.Attempts != 1 || e.LastError != "500" {
		t.Errorf("b: %+v", e)
	}
	if e := byKey["c"]; e.State != StateDead || e.LastError != "400 bad embed" {
		t.Errorf("c: %+v", e)
	}
	// Settling again changes nothing.
	if err := s.Settle(ctx, "discord", []Settlement{{ID: d[0].ID, Verdict: Dead, Error: "late"}}); err != nil {
		t.Fatal(err)
	}
	ents, _ = s.List(ctx, Filter{Sink: "discord", States: []State{StateDead}})
	if len(ents) != 1 || ents[0].Key != "c" {
		t.Fatalf("dead after double settle: %v", ents)
	}
	// A rate-limited retry does not count as an attempt.
	got, _ := s.Claim(ctx, "remote_db", 10, time.Minute)
	if len(got) != 0 {
		t.Fatalf("claimed leased row %v", keys(got))
	}
	c.Add(2 * time.Hour)
	got, _ = s.Claim(ctx, "discord", 10, time.Minute)
	if len(got) != 1 || got[0].Key != "b" || got[0].Attempts != 1 || got[0].LastError != "500" {
		t.Fatalf("retry claim %+v", got)
	}
	_ = s.Settle(ctx, "discord", []Settlement{{ID: got[0].ID, Verdict: Retry, RetryAt: c.Now(), Attempted: false}})
	got, _ = s.Claim(ctx, "discord", 10, time.Minute)
	if len(got) != 1 || got[0].Attempts != 1 {
		t.Fatalf("after unattempted retry %+v, want attempts 1", got)
	}
}

func TestOutbox_SettleAndClaimIsOneStep(t *testing.T) {
	s, _ := openTest(t, Options{Sinks: []string{"discord"}})
	ctx := t.Context()
	for i := range 4 {
		mustEnqueue(t, s, item(fmt.Sprintf("m%d", i), "ch"))
	}
	first, _ := s.Claim(ctx, "discord", 2, time.Minute)
	next, err := s.SettleAndClaim(ctx, "discord", []Settlement{{ID: first[0].ID}, {ID: first[1].ID}}, 2, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(keys(next)) != "[m2 m3]" {
		t.Fatalf("next=%v", keys(next))
	}
	st, _ := s.Stats(ctx)
	if st.Undelivered != 2 {
		t.Fatalf("undelivered=%d, want 2", st.Undelivered)
	}
}

func TestOutbox_NextDue(t *testing.T) {
	s, c := openTest(t, Options{Sinks: []string{"discord"}})
	ctx := t.Context()
	if _, ok, err := s.NextDue(ctx, "discord"); ok || err != nil {
		t.Fatalf("empty: ok=%v err=%v", ok, err)
	}
	mustEnqueue(t, s, item("a", "ch"))
	got, _ := s.Claim(ctx, "discord", 1, time.Minute)
	at := c.Now().Add(90 * time.Second)
	_ = s.Settle(ctx, "discord", []Settlement{{ID: got[0].ID, Verdict: Retry, RetryAt: at}})
	due, ok, err := s.NextDue(ctx, "discord")
	if err != nil || !ok || !due.Equal(at.Truncate(time.Millisecond)) {
		t.Fatalf("due=%v ok=%v err=%v, want %v", due, ok, err, at)
	}
}

func TestOutbox_CapPerChannelDropsOldestUndelivered(t *testing.T) {
	s, c := openTest(t, Options{CapPerChannel: 10, CapTotal: 1000})
	ctx := t.Context()
	// A burst of 10× the cap, in batches and one by one.
	var items []Item
	for i := range 50 {
		items = append(items, item(fmt.Sprintf("a%03d", i), "a"))
	}
	r := mustEnqueue(t, s, items...)
	if r.Inserted != 50 || r.Dropped["a"] != 40 {
		t.Fatalf("inserted=%d dropped=%v, want 50 and a:40", r.Inserted, r.Dropped)
	}
	dropped := r.DroppedTotal()
	for i := 50; i < 100; i++ {
		c.Add(time.Millisecond)
		dropped += mustEnqueue(t, s, item(fmt.Sprintf("a%03d", i), "a")).DroppedTotal()
	}
	if dropped != 90 {
		t.Fatalf("dropped=%d, want 90", dropped)
	}
	mustEnqueue(t, s, item("b0", "b"))
	got, _ := s.Claim(ctx, "discord", 100, time.Minute)
	if len(got) != 11 || got[0].Key != "a090" || got[9].Key != "a099" || got[10].Key != "b0" {
		t.Fatalf("claimed %v, want a090..a099 and b0", keys(got))
	}
	st, _ := s.Stats(ctx)
	if st.Dropped["a"] != 90 || st.Undelivered != 11 {
		t.Fatalf("stats dropped=%v undelivered=%d", st.Dropped, st.Undelivered)
	}
	// Dropped rows stay visible as history.
	ents, _ := s.List(ctx, Filter{Sink: "discord", States: []State{StateDropped}, Limit: 1000})
	if len(ents) != 90 {
		t.Fatalf("dropped entries=%d, want 90", len(ents))
	}
	// Delivered rows do not count against the cap.
	var ss []Settlement
	for _, g := range got {
		ss = append(ss, Settlement{ID: g.ID})
	}
	_ = s.Settle(ctx, "discord", ss)
	got, _ = s.Claim(ctx, "remote_db", 100, time.Minute)
	ss = ss[:0]
	for _, g := range got {
		ss = append(ss, Settlement{ID: g.ID})
	}
	_ = s.Settle(ctx, "remote_db", ss)
	for i := range 10 {
		if r := mustEnqueue(t, s, item(fmt.Sprintf("c%d", i), "a")); r.DroppedTotal() != 0 {
			t.Fatalf("dropped %v after delivery freed the cap", r.Dropped)
		}
	}
	// The drop count is persistent.
	path := s.Path()
	s.Close()
	s2, err := Open(ctx, path, Options{Sinks: []string{"discord", "remote_db"}, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	st, _ = s2.Stats(ctx)
	if st.Dropped["a"] != 90 || st.Undelivered != 10 {
		t.Fatalf("after reopen dropped=%v undelivered=%d", st.Dropped, st.Undelivered)
	}
}

func TestOutbox_CapTotalDropsOldestAcrossChannels(t *testing.T) {
	s, c := openTest(t, Options{CapPerChannel: 100, CapTotal: 5})
	for i := range 4 {
		mustEnqueue(t, s, item(fmt.Sprintf("a%d", i), "a"))
		c.Add(time.Millisecond)
	}
	r := mustEnqueue(t, s, item("b0", "b"), item("b1", "b"), item("b2", "b"))
	if r.Dropped["a"] != 2 || len(r.Dropped) != 1 {
		t.Fatalf("dropped=%v, want a:2", r.Dropped)
	}
	got, _ := s.Claim(t.Context(), "discord", 100, time.Minute)
	if fmt.Sprint(keys(got)) != "[a2 a3 b0 b1 b2]" {
		t.Fatalf("claimed %v", keys(got))
	}
}

func TestOutbox_CapTotalCountsDropsPerChannel(t *testing.T) {
	s, c := openTest(t, Options{CapPerChannel: 100, CapTotal: 3})
	for _, k := range []string{"a0", "b0", "a1"} {
		mustEnqueue(t, s, item(k, k[:1]))
		c.Add(time.Millisecond)
	}
	r := mustEnqueue(t, s, item("c0", "c"), item("c1", "c"))
	if r.Dropped["a"] != 1 || r.Dropped["b"] != 1 || len(r.Dropped) != 2 {
		t.Fatalf("dropped=%v, want a:1 b:1", r.Dropped)
	}
	st, err := s.Stats(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if st.Dropped["a"] != 1 || st.Dropped["b"] != 1 || st.Undelivered != 3 {
		t.Fatalf("stats dropped=%v undelivered=%d, want a:1 b:1 and 3", st.Dropped, st.Undelivered)
	}
	for _, sink := range []string{"discord", "remote_db"} {
		got, _ := s.Claim(t.Context(), sink, 100, time.Minute)
		if fmt.Sprint(keys(got)) != "[a1 c0 c1]" {
			t.Errorf("%s claimed %v, want [a1 c0 c1]", sink, keys(got))
		}
	}
}

func TestOutbox_SetSinks(t *testing.T) {
	s, _ := openTest(t, Options{})
	ctx := t.Context()
	mustEnqueue(t, s, item("a", "ch"))
	if err := s.SetSinks(ctx, []string{"discord", "console"}); err != nil {
		t.Fatal(err)
	}
	mustEnqueue(t, s, item("b", "ch"))
	// The new sink gets only new rows; the disabled one's pending rows are dead.
	got, _ := s.Claim(ctx, "console", 10, time.Minute)
	if fmt.Sprint(keys(got)) != "[b]" {
		t.Fatalf("console claimed %v, want [b]", keys(got))
	}
	ents, _ := s.List(ctx, Filter{Sink: "remote_db"})
	if len(ents) != 1 || ents[0].State != StateDead || ents[0].LastError != "sink disabled in config" {
		t.Fatalf("remote_db entries %+v", ents)
	}
	n, err := s.Requeue(ctx, "remote_db", false)
	if err != nil || n != 0 {
		t.Fatalf("requeue of a disabled sink: n=%d err=%v, want 0", n, err)
	}
}

func TestOutbox_RequeueAndPurge(t *testing.T) {
	s, _ := openTest(t, Options{Sinks: []string{"discord"}})
	ctx := t.Context()
	mustEnqueue(t, s, item("a", "ch"), item("b", "ch"))
	got, _ := s.Claim(ctx, "discord", 10, time.Minute)
	_ = s.Settle(ctx, "discord", []Settlement{{ID: got[0].ID, Verdict: Dead, Error: "x"}, {ID: got[1].ID, Verdict: Dead, Error: "y"}})
	if st, _ := s.Stats(ctx); st.Undelivered != 0 {
		t.Fatalf("undelivered=%d", st.Undelivered)
	}
	n, err := s.Requeue(ctx, "", false)
	if err != nil || n != 2 {
		t.Fatalf("requeue n=%d err=%v", n, err)
	}
	got, _ = s.Claim(ctx, "discord", 10, time.Minute)
	if len(got) != 2 || got[0].Attempts != 0 {
		t.Fatalf("after requeue %+v", got)
	}
	_ = s.Settle(ctx, "discord", []Settlement{{ID: got[0].ID, Verdict: Dead, Error: "x"}, {ID: got[1].ID}})
	n, err = s.Purge(ctx, false)
	if err != nil || n != 1 {
		t.Fatalf("purge n=%d err=%v, want 1", n, err)
	}
	st, _ := s.Stats(ctx)
	if st.Messages != 1 {
		t.Fatalf("messages=%d, want 1", st.Messages)
	}
}

func TestOutbox_PruneHistory(t *testing.T) {
	s, c := openTest(t, Options{Sinks: []string{"discord"}})
	ctx := t.Context()
	mustEnqueue(t, s, item("old", "ch"), item("pending", "ch"))
	got, _ := s.Claim(ctx, "discord", 1, time.Minute)
	_ = s.Settle(ctx, "discord", []Settlement{{ID: got[0].ID}})
	c.Add(31 * 24 * time.Hour)
	mustEnqueue(t, s, item("new", "ch"))
	got, _ = s.Claim(ctx, "discord", 10, time.Minute)
	for _, g := range got {
		if g.Key == "new" {
			_ = s.Settle(ctx, "discord", []Settlement{{ID: g.ID}})
		}
	}
	n, err := s.Prune(ctx, c.Now().Add(-30*24*time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("prune n=%d err=%v, want 1", n, err)
	}
	h, _ := s.History(ctx, time.Time{}, 10)
	if len(h) != 2 || h[0].Key != "new" || h[1].Key != "pending" {
		t.Fatalf("history %v", h)
	}
}

func TestOutbox_BreakerSnapshotRoundTrip(t *testing.T) {
	s, c := openTest(t, Options{})
	ctx := t.Context()
	if _, ok, err := s.LoadBreaker(ctx, "discord"); ok || err != nil {
		t.Fatalf("missing breaker: ok=%v err=%v", ok, err)
	}
	want := breaker.Snapshot{Name: "discord", State: breaker.Open, Failures: 5, OpenedAt: c.Now().Add(-time.Second), UpdatedAt: c.Now()}
	if err := s.SaveBreaker(ctx, want); err != nil {
		t.Fatal(err)
	}
	got, ok, err := s.LoadBreaker(ctx, "discord")
	if err != nil || !ok {
		t.Fatalf("load: ok=%v err=%v", ok, err)
	}
	if got.State != want.State || got.Failures != 5 || !got.OpenedAt.Equal(want.OpenedAt) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	all, _ := s.Breakers(ctx)
	if len(all) != 1 {
		t.Fatalf("breakers=%v", all)
	}
}

func TestOutbox_ChannelCache(t *testing.T) {
	s, _ := openTest(t, Options{})
	ctx := t.Context()
	if err := s.SaveChannel(ctx, ChannelIDs{Slug: "XQC", ChatroomID: 668, ChannelID: 676}); err != nil {
		t.Fatal(err)
	}
	_ = s.SaveChannel(ctx, ChannelIDs{Slug: "xqc", ChatroomID: 668})
	c, ok, err := s.Channel(ctx, "xqc")
	if err != nil || !ok || c.ChatroomID != 668 || c.ChannelID != 676 {
		t.Fatalf("channel %+v ok=%v err=%v", c, ok, err)
	}
}

func TestOpen_BadPaths(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	_, err := Open(ctx, filepath.Join(dir, "missing", "k.db"), Options{})
	if err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("missing dir: %v", err)
	}
	notDB := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(notDB, []byte("this is not a database, just some notes that are long enough to fill a header....."), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Open(ctx, notDB, Options{})
	if !errors.Is(err, ErrNotDatabase) {
		t.Fatalf("not a database: %v, want ErrNotDatabase", err)
	}
	if os.Geteuid() != 0 { // root ignores permissions
		ro := filepath.Join(dir, "ro")
		os.Mkdir(ro, 0o500)
		_, err = Open(ctx, filepath.Join(ro, "k.db"), Options{})
		if !errors.Is(err, ErrReadOnly) {
			t.Fatalf("read-only dir: %v, want ErrReadOnly", err)
		}
	}
	if _, err := Open(ctx, filepath.Join(dir, "k.db"), Options{Synchronous: "sometimes"}); err == nil {
		t.Fatal("bad synchronous accepted")
	}
}

func TestOutbox_ReadOnlyIsTyped(t *testing.T) {
	s, _ := openTest(t, Options{})
	// As a file on a read-only mount would: every write is refused.
	if _, err := s.db.ExecContext(t.Context(), `PRAGMA query_only = 1`); err != nil {
		t.Fatal(err)
	}
	_, err := s.Enqueue(t.Context(), item("a", "ch"))
	if !errors.Is(err, ErrReadOnly) {
		t.Fatalf("err=%v, want ErrReadOnly", err)
	}
	if err := s.Writable(t.Context()); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("writable: %v, want ErrReadOnly", err)
	}
}

func TestOutbox_DiskFullThenRecovers(t *testing.T) {
	s, _ := openTest(t, Options{Sinks: []string{"discord"}, CapPerChannel: -1, CapTotal: -1})
	ctx := t.Context()
	var pages int
	if err := s.db.QueryRowContext(ctx, `PRAGMA page_count`).Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.ExecContext(ctx, fmt.Sprintf(`PRAGMA max_page_count = %d`, pages+2)); err != nil {
		t.Fatal(err)
	}
	big := make([]byte, 8192)
	var full error
	accepted := 0
	for i := 0; i < 100 && full == nil; i++ {
		_, full = s.Enqueue(ctx, Item{Key: fmt.Sprintf("k%d", i), Channel: "ch", Payload: big})
		if full == nil {
			accepted++
		}
	}
	if !errors.Is(full, ErrFull) {
		t.Fatalf("err=%v, want ErrFull", full)
	}
	if _, err := s.db.ExecContext(ctx, `PRAGMA max_page_count = 1073741823`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Enqueue(ctx, Item{Key: "after", Channel: "ch", Payload: big}); err != nil {
		t.Fatalf("enqueue after space returned: %v", err)
	}
	got, _ := s.Claim(ctx, "discord", 1000, time.Minute)
	if len(got) != accepted+1 {
		t.Fatalf("claimed %d, want %d (every accepted row, none of the failed one)", len(got), accepted+1)
	}
}

func TestOpen_NilSinksLeavesDeliveriesAlone(t *testing.T) {
	s, c := openTest(t, Options{})
	ctx := t.Context()
	mustEnqueue(t, s, item("a", "ch"))
	path := s.Path()
	// A command running beside the daemon opens without naming sinks.
	cli, err := Open(ctx, path, Options{Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	if got := fmt.Sprint(cli.Sinks()); got != "[discord remote_db]" {
		t.Fatalf("sinks=%s, want the stored ones", got)
	}
	st, _ := cli.Stats(ctx)
	for _, ss := range st.Sinks {
		if ss.Pending != 1 || ss.Dead != 0 {
			t.Fatalf("sink %+v changed by a nil-sinks open", ss)
		}
	}
	// The daemon's counters notice the other process's writes.
	if _, err := cli.Requeue(ctx, "", false); err != nil {
		t.Fatal(err)
	}
	got, _ := s.Claim(ctx, "discord", 10, time.Minute)
	_ = s.Settle(ctx, "discord", []Settlement{{ID: got[0].ID, Verdict: Dead, Error: "x"}})
	if n, err := cli.Requeue(ctx, "discord", false); err != nil || n != 1 {
		t.Fatalf("requeue from the second process: n=%d err=%v", n, err)
	}
	if _, err := s.Enqueue(ctx, item("b", "ch")); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	total := s.total
	s.mu.Unlock()
	if total != 2 {
		t.Fatalf("daemon counter total=%d after another process's requeue, want 2", total)
	}
}

func TestOutbox_RetriedRowsKeepCreationOrder(t *testing.T) {
	s, c := openTest(t, Options{Sinks: []string{"discord"}})
	ctx := t.Context()
	mustEnqueue(t, s, item("a", "ch"), item("b", "ch"))
	got, _ := s.Claim(ctx, "discord", 10, time.Minute)
	retryAt := c.Now().Add(time.Minute)
	_ = s.Settle(ctx, "discord", []Settlement{
		{ID: got[0].ID, Verdict: Retry, RetryAt: retryAt, Attempted: true},
		{ID: got[1].ID, Verdict: Retry, RetryAt: retryAt, Attempted: true},
	})
	c.Add(time.Second)
	mustEnqueue(t, s, item("c", "ch"))
	// Before the retry time only the new row is due...
	if got, _ := s.Claim(ctx, "discord", 10, 0); fmt.Sprint(keys(got)) != "[c]" {
		t.Fatalf("claimed %v before the retry, want [c]", keys(got))
	}
	// ...and after it, the retried rows come first.
	mustEnqueue(t, s, item("d", "ch"))
	c.Add(2 * time.Minute)
	if got, _ := s.Claim(ctx, "discord", 10, time.Minute); fmt.Sprint(keys(got)) != "[a b c d]" {
		t.Fatalf("claimed %v, want [a b c d] (c's lease ran out too)", keys(got))
	}
}

// A daemon killed mid-delivery leaves leased rows; the next daemon (Open with
// Sinks) makes them due at once, while a CLI open (no Sinks) leaves them, and
// rows in backoff keep their due time.
func TestOpen_ReleasesLeasesOfAnEarlierProcess(t *testing.T) {
	c := newClock()
	path := filepath.Join(t.TempDir(), "k.db")
	open := func(sinks []string) *Store {
		t.Helper()
		s, err := Open(t.Context(), path, Options{Sinks: sinks, Now: c.Now})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := open([]string{"discord"})
	mustEnqueue(t, s, item("a", "ch"), item("b", "ch"), item("c", "ch"))
	got, err := s.Claim(t.Context(), "discord", 3, time.Hour)
	if err != nil || len(got) != 3 {
		t.Fatalf("claim: %d, %v", len(got), err)
	}
	// c goes into backoff for an hour; a and b stay leased (the "crash").
	if err := s.Settle(t.Context(), "discord", []Settlement{{ID: got[2].ID, Verdict: Retry, RetryAt: c.Now().Add(time.Hour), Attempted: true}}); err != nil {
		t.Fatal(err)
	}
	s.Close()

	cli := open(nil)
	if n := cli.ReleasedLeases(); n != 0 {
		t.Errorf("a CLI open released %d leases", n)
	}
	if due, ok, _ := cli.NextDue(t.Context(), "discord"); !ok || due.IsZero() {
		t.Errorf("after a CLI open: due=%v ok=%v, want the leases still held", due, ok)
	}
	cli.Close()

	s = open([]string{"discord"})
	defer s.Close()
	if n := s.ReleasedLeases(); n != 2 {
		t.Errorf("released %d leases, want 2", n)
	}
	again, err := s.Claim(t.Context(), "discord", 10, time.Hour)
	if err != nil || strings.Join(keys(again), ",") != "a,b" {
		t.Fatalf("claim after restart = %v, %v; want a,b at once (c stays in backoff)", keys(again), err)
	}
}
