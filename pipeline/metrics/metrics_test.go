package metrics

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"kickwatch/breaker"
	"kickwatch/pipeline"
	"kickwatch/pipeline/deliver"
	"kickwatch/pipeline/ingest"
	"kickwatch/store"
)

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// clock is a settable time source.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// scrape GETs h's exposition and returns it as text.
func scrape(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read scrape: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape status=%d, want 200; body:\n%s", resp.StatusCode, b)
	}
	return string(b)
}

// series parses the text exposition into series → value.
func series(t *testing.T, body string) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			t.Fatalf("bad exposition line %q", line)
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("bad value in %q: %v", line, err)
		}
		if _, dup := out[line[:i]]; dup {
			t.Fatalf("series %s exposed twice", line[:i])
		}
		out[line[:i]] = v
	}
	return out
}

func testSnapshot() ingest.Snapshot {
	return ingest.Snapshot{
		LastFrame: t0.Add(-time.Minute),
		Channels: []ingest.ChannelSnapshot{
			{
				Slug: "xqc", ChatroomID: 1, Source: "pusher", State: pipeline.ChannelSubscribed,
				LastFrame: t0.Add(-time.Minute),
				Frames: map[ingest.Result]uint64{ingest.ResultMatched: 5, ingest.ResultFiltered: 1000,
					ingest.ResultDropped: 2},
				Mentions: map[pipeline.Kind]uint64{pipeline.KindMention: 4, pipeline.KindReply: 1, pipeline.KindKeyword: 0},
			},
			{
				Slug: "quiet-one", ChatroomID: 2, State: pipeline.ChannelPending,
				Frames:   map[ingest.Result]uint64{ingest.ResultMatched: 0},
				Mentions: map[pipeline.Kind]uint64{},
			},
		},
		Sources: []ingest.SourceState{
			{Name: "pusher", Up: true, Since: t0, Reconnects: 2},
			{Name: "centrifugo", Up: false, Reconnects: 1, LastError: "dial: refused"},
		},
		Unknown:    map[ingest.Result]uint64{ingest.ResultFiltered: 7, ingest.ResultMatched: 1},
		Malformed:  map[[2]string]uint64{{"pusher", "oversized"}: 3, {"pusher", "Not A Reason!"}: 1, {"pusher", "json"}: 2},
		CapDropped: map[string]uint64{"xqc": 4, "gone": 6, "also-gone": 1},
		Duplicates: 9,
		Lost:       1,
	}
}

func testStats() store.Stats {
	return store.Stats{
		Messages: 120, Undelivered: 7,
		Sinks: []store.SinkStats{
			{Sink: "discord", Pending: 5, Due: 3, Delivered: 100, Dead: 2},
			{Sink: "remote_db", Pending: 2, Due: 2, Delivered: 103, Dead: 0},
			{Sink: "retired", Pending: 1},
		},
	}
}

func TestMetrics_Exposition(t *testing.T) {
	clk := &clock{now: t0}
	m := New(Options{
		Ingest: testSnapshot,
		Outbox: func(context.Context) (store.Stats, error) { return testStats(), nil },
		Breakers: func() []breaker.Snapshot {
			return []breaker.Snapshot{{Name: "discord", State: breaker.Open, Failures: 5}, {Name: "remote_db"}}
		},
		Sinks:   []string{"discord", "remote_db"},
		Version: "v1.2.3",
		Now:     clk.Now,
	})
	m.Attempt("discord", 3, 200*time.Millisecond, false)
	m.Attempt("discord", 1, 12*time.Second, true)
	m.Outcome("discord", pipeline.Delivered, 3)
	m.Outcome("discord", pipeline.Retry, 1)
	m.Outcome("remote_db", pipeline.Permanent, 2)
	m.DeadLettered("remote_db", 2)
	m.RateLimited("discord", 1500*time.Millisecond)
	m.BreakerChanged("discord", breaker.Closed, breaker.Open)
	m.Paused("discord", deliver.PauseMisconfigured)
	m.Paused("remote_db", deliver.PauseRateLimited)
	m.Resumed("remote_db", deliver.PauseRateLimited)
	m.TimedOut("resolve", "kick")

	got := series(t, scrape(t, m.Handler()))
	want := map[string]float64{
		`kickwatch_build_info{goversion="` + runtimeVersion() + `",version="v1.2.3"}`: 1,

		`kickwatch_chat_frames_total{channel="xqc",result="matched"}`:          5,
		`kickwatch_chat_frames_total{channel="xqc",result="filtered"}`:         1000,
		`kickwatch_chat_frames_total{channel="xqc",result="dropped"}`:          2,
		`kickwatch_chat_frames_total{channel="quiet-one",result="matched"}`:    0,
		`kickwatch_chat_frames_total{channel="other",result="filtered"}`:       7,
		`kickwatch_chat_frames_total{channel="other",result="matched"}`:        1,
		`kickwatch_mentions_total{channel="xqc",kind="mention"}`:               4,
		`kickwatch_mentions_total{channel="xqc",kind="reply"}`:                 1,
		`kickwatch_mentions_total{channel="xqc",kind="keyword"}`:               0,
		`kickwatch_outbox_cap_dropped_total{channel="xqc"}`:                    4,
		`kickwatch_outbox_cap_dropped_total{channel="quiet-one"}`:              0,
		`kickwatch_outbox_cap_dropped_total{channel="other"}`:                  7,
		`kickwatch_malformed_frames_total{reason="oversized",source="pusher"}`: 3,
		`kickwatch_malformed_frames_total{reason="json",source="pusher"}`:      2,
		`kickwatch_malformed_frames_total{reason="other",source="pusher"}`:     1,
		`kickwatch_duplicate_matches_total`:                                    9,
		`kickwatch_lost_matches_total`:                                         1,
		`kickwatch_channel_subscribed{channel="xqc"}`:                          1,
		`kickwatch_channel_subscribed{channel="quiet-one"}`:                    0,
		`kickwatch_channel_last_frame_timestamp_seconds{channel="xqc"}`:        float64(t0.Add(-time.Minute).Unix()),
		`kickwatch_last_chat_frame_timestamp_seconds`:                          float64(t0.Add(-time.Minute).Unix()),
		`kickwatch_silence_alarm`:                                              0,
		`kickwatch_source_connected{source="pusher"}`:                          1,
		`kickwatch_source_connected{source="centrifugo"}`:                      0,
		`kickwatch_source_reconnects_total{source="pusher"}`:                   2,
		`kickwatch_source_reconnects_total{source="centrifugo"}`:               1,

		`kickwatch_outbox_messages`:                                      120,
		`kickwatch_outbox_undelivered`:                                   7,
		`kickwatch_outbox_pending{sink="discord"}`:                       5,
		`kickwatch_outbox_pending{sink="remote_db"}`:                     2,
		`kickwatch_outbox_pending{sink="other"}`:                         1,
		`kickwatch_outbox_due{sink="discord"}`:                           3,
		`kickwatch_outbox_dead{sink="discord"}`:                          2,
		`kickwatch_outbox_stats_errors_total`:                            0,
		`kickwatch_outbox_stats_timestamp_seconds`:                       float64(t0.Unix()),
		`kickwatch_breaker_state{breaker="discord",state="open"}`:        1,
		`kickwatch_breaker_state{breaker="discord",state="closed"}`:      0,
		`kickwatch_breaker_state{breaker="remote_db",state="closed"}`:    1,
		`kickwatch_breaker_state{breaker="remote_db",state="half_open"}`: 0,
		`kickwatch_breaker_failures{breaker="discord"}`:                  5,

		`kickwatch_deliveries_total{result="delivered",sink="discord"}`:        3,
		`kickwatch_deliveries_total{result="retry",sink="discord"}`:            1,
		`kickwatch_deliveries_total{result="permanent",sink="remote_db"}`:      2,
		`kickwatch_deliveries_total{result="delivered",sink="remote_db"}`:      0,
		`kickwatch_dead_letters_total{sink="remote_db"}`:                       2,
		`kickwatch_dead_letters_total{sink="discord"}`:                         0,
		`kickwatch_rate_limited_seconds_total{sink="discord"}`:                 1.5,
		`kickwatch_delivery_duration_seconds_count{sink="discord"}`:            2,
		`kickwatch_delivery_duration_seconds_bucket{sink="discord",le="0.25"}`: 1,
		`kickwatch_delivery_duration_seconds_bucket{sink="discord",le="15"}`:   2,
		`kickwatch_delivery_duration_seconds_count{sink="remote_db"}`:          0,
		`kickwatch_timeouts_total{operation="deliver",target="discord"}`:       1,
		`kickwatch_timeouts_total{operation="deliver",target="remote_db"}`:     0,
		`kickwatch_timeouts_total{operation="resolve",target="kick"}`:          1,
		`kickwatch_sink_paused{reason="misconfigured",sink="discord"}`:         1,
		`kickwatch_sink_paused{reason="rate_limited",sink="remote_db"}`:        0,
		`kickwatch_breaker_transitions_total{breaker="discord",to="open"}`:     1,
	}
	for k, w := range want {
		v, ok := got[k]
		if !ok {
			t.Errorf("series %s missing", k)
			continue
		}
		if v != w {
			t.Errorf("%s = %v, want %v", k, v, w)
		}
	}
	for _, k := range []string{"go_goroutines", "process_start_time_seconds"} {
		if _, ok := got[k]; !ok {
			t.Errorf("series %s missing: Go/process collectors not registered", k)
		}
	}
	for k := range got {
		if strings.Contains(k, `channel="gone"`) || strings.Contains(k, `channel="also-gone"`) {
			t.Errorf("unconfigured channel exposed: %s", k)
		}
	}
}

// TestMetrics_NothingConfigured: with no sources of figures, the kickwatch
// metrics are absent rather than zero, and the scrape still works.
func TestMetrics_NothingConfigured(t *testing.T) {
	got := series(t, scrape(t, New(Options{}).Handler()))
	for _, absent := range []string{"kickwatch_outbox_messages", "kickwatch_silence_alarm", "kickwatch_outbox_stats_errors_total"} {
		if _, ok := got[absent]; ok {
			t.Errorf("%s exposed without a source", absent)
		}
	}
	if _, ok := got[`kickwatch_build_info{goversion="`+runtimeVersion()+`",version=""}`]; !ok {
		t.Errorf("kickwatch_build_info missing")
	}
}

// TestMetrics_SilenceAlarmGauge: the gauge follows the daemon's alarm at
// scrape time.
func TestMetrics_SilenceAlarmGauge(t *testing.T) {
	var on atomic.Bool
	m := New(Options{Silence: on.Load, Ingest: func() ingest.Snapshot { return ingest.Snapshot{} }})
	if got := series(t, scrape(t, m.Handler()))["kickwatch_silence_alarm"]; got != 0 || m.Silent() {
		t.Fatalf("silence alarm=%v while off, want 0", got)
	}
	on.Store(true)
	if got := series(t, scrape(t, m.Handler()))["kickwatch_silence_alarm"]; got != 1 || !m.Silent() {
		t.Fatalf("silence alarm=%v while on, want 1", got)
	}
	if New(Options{}).Silent() {
		t.Error("no alarm hook: Silent() = true")
	}
}

func TestLabelGuard(t *testing.T) {
	g := newOpenGuard(2)
	for _, tt := range []struct{ in, want string }{
		{"pusher", "pusher"},
		{"Pusher", "other"},                // upper case: not a code name
		{"a b", "other"},                   // space
		{"https://x/y", "other"},           // URL
		{strings.Repeat("a", 33), "other"}, // too long to be a code name
		{"centrifugo", "centrifugo"},
		{"webhook", "other"}, // over the cap
		{"pusher", "pusher"}, // still admitted
	} {
		if got := g.value(tt.in); got != tt.want {
			t.Errorf("open guard value(%q)=%q, want %q", tt.in, got, tt.want)
		}
	}
	f := newFixedGuard([]string{"discord", "remote_db"})
	for _, tt := range []struct{ in, want string }{{"discord", "discord"}, {"console", "other"}, {"", "other"}} {
		if got := f.value(tt.in); got != tt.want {
			t.Errorf("fixed guard value(%q)=%q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestMetrics_OutboxCache: scrapes within the cache period share one store
// query; a failed query keeps the last figures, counts an error, and is not
// retried before the period is over.
func TestMetrics_OutboxCache(t *testing.T) {
	clk := &clock{now: t0}
	var mu sync.Mutex
	calls, fail := 0, false
	outbox := func(ctx context.Context) (store.Stats, error) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if fail {
			return store.Stats{}, errors.New("database is locked")
		}
		return store.Stats{Messages: calls}, nil
	}
	m := New(Options{Outbox: outbox, OutboxCacheTTL: 10 * time.Second, Now: clk.Now})
	h := m.Handler()
	check := func(wantCalls int, wantMessages, wantErrors float64) {
		t.Helper()
		got := series(t, scrape(t, h))
		mu.Lock()
		c := calls
		mu.Unlock()
		if c != wantCalls {
			t.Errorf("store queries=%d, want %d", c, wantCalls)
		}
		if v := got["kickwatch_outbox_messages"]; v != wantMessages {
			t.Errorf("kickwatch_outbox_messages=%v, want %v", v, wantMessages)
		}
		if v := got["kickwatch_outbox_stats_errors_total"]; v != wantErrors {
			t.Errorf("kickwatch_outbox_stats_errors_total=%v, want %v", v, wantErrors)
		}
	}
	check(1, 1, 0)
	check(1, 1, 0) // cached
	clk.Add(9 * time.Second)
	check(1, 1, 0)
	clk.Add(2 * time.Second)
	check(2, 2, 0)
	mu.Lock()
	fail = true
	mu.Unlock()
	clk.Add(11 * time.Second)
	check(3, 2, 1) // failed: last good figures stay
	check(3, 2, 1) // failure cached too
	st, at, err := m.OutboxStats(t.Context())
	if err == nil || st.Messages != 2 || !at.Equal(t0.Add(11*time.Second)) {
		t.Errorf("OutboxStats=(%d, %v, %v), want (2, %v, an error)", st.Messages, at, err, t0.Add(11*time.Second))
	}
}

// TestMetrics_OutboxCacheOneQueryAtATime: concurrent readers wait for the
// query in flight instead of starting their own, and a reader whose context
// ends stops waiting.
func TestMetrics_OutboxCacheOneQueryAtATime(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	var mu sync.Mutex
	calls := 0
	m := New(Options{Outbox: func(ctx context.Context) (store.Stats, error) {
		mu.Lock()
		calls++
		first := calls == 1
		mu.Unlock()
		if first {
			close(started)
			select {
			case <-release:
			case <-ctx.Done():
				return store.Stats{}, ctx.Err()
			}
		}
		return store.Stats{Messages: 42}, nil
	}, OutboxTimeout: time.Minute})

	var wg sync.WaitGroup
	results := make(chan int, 5)
	for range 5 {
		wg.Go(func() {
			st, _, err := m.OutboxStats(t.Context())
			if err != nil {
				results <- -1
				return
			}
			results <- st.Messages
		})
	}
	<-started
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, _, err := m.OutboxStats(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("OutboxStats with a cancelled context while a query runs: err=%v, want context.Canceled", err)
	}
	close(release)
	wg.Wait()
	close(results)
	for r := range results {
		if r != 42 {
			t.Errorf("reader got Messages=%d, want 42", r)
		}
	}
	if calls != 1 {
		t.Errorf("store queries=%d, want 1", calls)
	}
}
