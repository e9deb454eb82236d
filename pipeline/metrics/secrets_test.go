package metrics

import (
	"context"
	"runtime"
	"strings"
	"testing"
	"time"

	"kickwatch/breaker"
	"kickwatch/pipeline"
	"kickwatch/pipeline/ingest"
	"kickwatch/store"
)

func runtimeVersion() string { return runtime.Version() }

// TestMetrics_SecretsNeverExposed: a webhook URL, a JWT-shaped key or an
// API key that reaches the metrics through any input — an error text, a name
// passed by mistake — never shows in the exposition; labels carry only
// configured or short code names.
func TestMetrics_SecretsNeverExposed(t *testing.T) {
	secrets := []string{
		"https://discord.com/api/webhooks/1234567890/SeCrEtToKeN-abcdefghijklmnopqrstuvwxyz_0123456789ABCDEFGH",
		"eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoic2VydmljZV9yb2xlIn0.c2VjcmV0c2lnbmF0dXJl",
		"sb_secret_abcdefghijklmnopqrstuvwxyz012345",
	}
	for _, withSinks := range []bool{true, false} {
		snap := ingest.Snapshot{
			Channels: []ingest.ChannelSnapshot{{Slug: "xqc", State: pipeline.ChannelSubscribed,
				Frames: map[ingest.Result]uint64{ingest.ResultMatched: 1}}},
			Malformed:  map[[2]string]uint64{},
			CapDropped: map[string]uint64{},
		}
		var snaps []breaker.Snapshot
		stats := store.Stats{Dropped: map[string]int{}}
		for _, s := range secrets {
			snap.Sources = append(snap.Sources, ingest.SourceState{Name: s, Up: true, LastError: "dial " + s + ": refused"})
			snap.Malformed[[2]string{s, s}] = 1
			snap.CapDropped[s] = 1
			snaps = append(snaps, breaker.Snapshot{Name: s, State: breaker.Open})
			stats.Sinks = append(stats.Sinks, store.SinkStats{Sink: s, Pending: 1})
			stats.Dropped[s] = 1
		}
		o := Options{
			Ingest:   func() ingest.Snapshot { return snap },
			Outbox:   func(context.Context) (store.Stats, error) { return stats, nil },
			Breakers: func() []breaker.Snapshot { return snaps },
		}
		if withSinks {
			o.Sinks = []string{"discord"}
		}
		m := New(o)
		for _, s := range secrets {
			m.Attempt(s, 1, time.Second, true)
			m.Outcome(s, pipeline.Retry, 1)
			m.DeadLettered(s, 1)
			m.RateLimited(s, time.Second)
			m.BreakerChanged(s, breaker.Closed, breaker.Open)
			m.Paused(s, s)
			m.TimedOut(s, s)
		}
		body := scrape(t, m.Handler())
		for _, s := range secrets {
			for _, frag := range []string{s, s[:20], "SeCrEt", "eyJ", "sb_secret"} {
				if strings.Contains(body, frag) {
					t.Errorf("withSinks=%v: exposition contains %q", withSinks, frag)
				}
			}
		}
		if !strings.Contains(body, `kickwatch_dead_letters_total{sink="other"} 3`) {
			t.Errorf("withSinks=%v: dead letters of unknown sinks not counted under \"other\"", withSinks)
		}
	}
}
