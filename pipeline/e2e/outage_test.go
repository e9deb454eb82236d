package e2e

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"kickwatch/pipeline/discord/discordfake"
	"kickwatch/store"
)

// closedPortURL is an http URL on loopback where nothing listens.
func closedPortURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

// TestOutage_CapDropsOldestAndDeliversTheRest: both sinks down (Discord
// answers 503, PostgREST's port is closed) while 50 mentions arrive on one
// channel with a cap of 20: exactly 30 are reported dropped, and after
// recovery exactly the 20 newest reach Discord and the table, once each.
func TestOutage_CapDropsOldestAndDeliversTheRest(t *testing.T) {
	t.Parallel()
	const n, capacity = 50, 20
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	df := discordfake.New(discordfake.Options{})
	gate, err := NewGate(df.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(gate.Close)
	h := http.Header{}
	h.Set("Via", "1.1 google")
	gate.Down(http.StatusServiceUnavailable, DiscordOverloaded, "application/json", h)

	ch := Channel{Slug: "e2e-outage", ChatroomID: 7201}
	r := newRig(t, df, []Channel{ch})
	r.settings.DiscordURL = gate.URL() + "/api/webhooks/" + discordfake.DefaultWebhookID + "/" + discordfake.DefaultToken
	r.settings.RemoteDBURL = closedPortURL(t)
	r.settings.CapPerChannel = capacity
	r.settings.RetryInitial, r.settings.RetryMax = 100*time.Millisecond, 500*time.Millisecond
	r.settings.FailureThreshold, r.settings.RecoveryTimeout = 2, 500*time.Millisecond
	toks := NewTokens()

	// Down: 50 mentions arrive.
	p := r.start(ctx)
	for i := range n {
		if mention(r.kick, ch, "", toks.Token(i)) == 0 {
			t.Fatalf("mention %d reached no socket", i)
		}
	}
	var st store.Stats
	err = Poll(ctx, 200*time.Millisecond, func() (bool, error) {
		var err error
		st, err = r.daemon.OutboxStats(ctx)
		return err == nil && st.Messages == n, err
	})
	if err != nil {
		t.Fatalf("outbox never held %d mentions: %v (stats %+v)\n%s", n, err, st, tail(p, 40))
	}
	if got, want := st.Dropped[ch.Slug], n-capacity; got != want {
		t.Errorf("dropped on %s: %d, want %d", ch.Slug, got, want)
	}
	for _, sink := range []string{"discord", "remote_db"} {
		ss, ok := SinkStats(st, sink)
		if !ok || ss.Dropped != n-capacity || ss.Pending != capacity || ss.Delivered != 0 || ss.Dead != 0 {
			t.Errorf("%s during the outage: %+v, want dropped=%d pending=%d delivered=0 dead=0", sink, ss, n-capacity, capacity)
		}
	}
	if !logHas(p, "outbox cap reached: oldest undelivered mentions dropped") {
		t.Errorf("the daemon did not log the cap drops\n%s", tail(p, 30))
	}
	// The same count on /metrics (this process's drops, since start).
	if code, body, err := p.Get(ctx, "/metrics"); err != nil {
		t.Errorf("GET /metrics: %v", err)
	} else if code == http.StatusOK {
		got, ok := metricValue(string(body), "kickwatch_outbox_cap_dropped_total", `channel="`+ch.Slug+`"`)
		if !ok || got != n-capacity {
			t.Errorf("/metrics kickwatch_outbox_cap_dropped_total{channel=%q} = %v (found %t), want %d", ch.Slug, got, ok, n-capacity)
		}
	}
	refused, _ := gate.Counts()
	if refused == 0 {
		t.Errorf("Discord was never tried during the outage")
	}
	if code, err := p.Stop(ctx); err != nil || code != 0 {
		t.Fatalf("stop during the outage: exit %d, %v\n%s", code, err, tail(p, 30))
	}

	// Recovery: PostgREST back at the next start, Discord comes back while
	// the daemon runs.
	r.settings.RemoteDBURL = r.pg.URL
	p = r.start(ctx)
	err = Poll(ctx, 100*time.Millisecond, func() (bool, error) {
		rows, err := r.pg.Rows(ctx, r.table)
		return len(rows) >= capacity, err
	})
	if err != nil {
		t.Fatalf("the table never got %d rows: %v\n%s", capacity, err, tail(p, 30))
	}
	gate.Up()
	err = Poll(ctx, 100*time.Millisecond, func() (bool, error) {
		var err error
		st, err = r.daemon.OutboxStats(ctx)
		return err == nil && st.Undelivered == 0, err
	})
	if err != nil {
		t.Fatalf("the outbox never drained: %v (stats %+v)\n%s", err, st, tail(p, 30))
	}
	if code, err := p.Stop(ctx); err != nil || code != 0 {
		t.Fatalf("stop after recovery: exit %d, %v\n%s", code, err, tail(p, 30))
	}

	st, err = r.daemon.OutboxStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := st.Dropped[ch.Slug], n-capacity; got != want {
		t.Errorf("dropped on %s after recovery: %d, want %d", ch.Slug, got, want)
	}
	for _, sink := range []string{"discord", "remote_db"} {
		ss, _ := SinkStats(st, sink)
		if ss.Dropped != n-capacity || ss.Delivered != capacity || ss.Pending != 0 || ss.Dead != 0 {
			t.Errorf("%s after recovery: %+v, want dropped=%d delivered=%d pending=0 dead=0", sink, ss, n-capacity, capacity)
		}
	}
	d := Deliveries(toks.Posts(df.Requests()))
	rows, err := r.pg.Rows(ctx, r.table)
	if err != nil {
		t.Fatal(err)
	}
	inDB := map[string]int{}
	for _, row := range rows {
		for _, tok := range toks.Find(row.Message) {
			inDB[tok]++
		}
	}
	for i := range n {
		want := 0
		if i >= n-capacity {
			want = 1 // the newest survive the cap
		}
		tok := toks.Token(i)
		if got := d.Count[tok]; got != want {
			t.Errorf("mention %d on Discord: %d times, want %d", i, got, want)
		}
		if got := inDB[tok]; got != want {
			t.Errorf("mention %d in the table: %d rows, want %d", i, got, want)
		}
	}
	if len(rows) != capacity {
		t.Errorf("table rows: %d, want %d", len(rows), capacity)
	}
	refused, proxied := gate.Counts()
	t.Logf("outage: %d mentions, cap %d → dropped %d, delivered %d to Discord (%d posts; %d refused with 503 during the outage) and %d to PostgREST",
		n, capacity, st.Dropped[ch.Slug], len(d.Count), proxied, refused, len(rows))
}

// metricValue finds a sample of name whose labels contain label in a
// Prometheus text exposition.
func metricValue(text, name, label string) (float64, bool) {
	for _, line := range strings.Split(text, "\n") {
		rest, ok := strings.CutPrefix(line, name+"{")
		if !ok {
			continue
		}
		labels, value, ok := strings.Cut(rest, "} ")
		if !ok || !strings.Contains(labels, label) {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		return v, err == nil
	}
	return 0, false
}
