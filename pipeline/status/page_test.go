package status

import (
	"errors"
	"testing"
	"time"

	"kickwatch/breaker"
	"kickwatch/pipeline"
	"kickwatch/pipeline/deliver"
	"kickwatch/pipeline/ingest"
	"kickwatch/store"
)

func historyEntry(t *testing.T, id int64, m pipeline.Mention) store.Entry {
	t.Helper()
	b, err := pipeline.EncodeMention(&m)
	if err != nil {
		t.Fatal(err)
	}
	return store.Entry{ID: id, Channel: m.Channel, Payload: b, CreatedAt: m.ReceivedAt}
}

func TestBuild(t *testing.T) {
	in := Input{
		Version: "v2", Started: t0.Add(-time.Hour), Now: t0,
		Ingest: ingest.Snapshot{
			LastFrame: t0.Add(-time.Second),
			Channels: []ingest.ChannelSnapshot{{Slug: "xqc", Source: "pusher", State: pipeline.ChannelSubscribed,
				LastFrame: t0.Add(-time.Second),
				Frames:    map[ingest.Result]uint64{ingest.ResultMatched: 3, ingest.ResultFiltered: 10, ingest.ResultDropped: 1}}},
			Sources:    []ingest.SourceState{{Name: "pusher", Up: true, Since: t0.Add(-time.Minute), Reconnects: 1}},
			Unknown:    map[ingest.Result]uint64{ingest.ResultDropped: 2},
			CapDropped: map[string]uint64{"xqc": 4},
			Lost:       1,
		},
		Outbox: store.Stats{Sinks: []store.SinkStats{
			{Sink: "discord", Pending: 3, Due: 1, Dead: 2, Delivered: 9},
			{Sink: "retired", Pending: 1},
		}},
		OutboxAt:  t0.Add(-5 * time.Second),
		OutboxErr: errors.New("stats: database is locked"),
		Workers: []deliver.Status{{Sink: "discord", Ready: true, Paused: deliver.PauseRateLimited,
			PausedUntil: t0.Add(time.Minute), Breaker: breaker.HalfOpen, LastError: "429"}},
		Breakers:     []breaker.Snapshot{{Name: "kick", State: breaker.Closed}, {Name: "discord", State: breaker.HalfOpen, Failures: 5}},
		SilenceAlarm: true, SilenceAfter: 6 * time.Hour,
	}
	in.History = append(in.History, store.Entry{ID: 99, Channel: "xqc", Payload: []byte("{not json"), CreatedAt: t0})
	for i := range MaxMentions + 5 {
		in.History = append(in.History, historyEntry(t, int64(98-i), pipeline.Mention{
			Channel: "xqc", Sender: "alice", Content: "hi @me", Kind: pipeline.KindReply,
			CreatedAt: t0.Add(-time.Duration(i) * time.Minute), ReceivedAt: t0}))
	}

	p := Build(in)
	if p.Version != "v2" || !p.SilenceAlarm || p.BufferDropped != 3 || p.Lost != 1 || p.OutboxError != "stats: database is locked" {
		t.Errorf("header: %+v", p)
	}
	if len(p.Channels) != 1 {
		t.Fatalf("channels=%d, want 1", len(p.Channels))
	}
	if got, want := p.Channels[0], (Channel{Slug: "xqc", Source: "pusher", State: "subscribed", LastFrame: t0.Add(-time.Second),
		Frames: 14, Matched: 3, Dropped: 1, CapDropped: 4}); got != want {
		t.Errorf("channel=%+v, want %+v", got, want)
	}
	if len(p.Sinks) != 2 {
		t.Fatalf("sinks=%d, want 2", len(p.Sinks))
	}
	if got, want := p.Sinks[0], (Sink{Name: "discord", Ready: true, Paused: "rate_limited", PausedUntil: t0.Add(time.Minute),
		Breaker: "half_open", Pending: 3, Due: 1, Dead: 2, Delivered: 9, LastError: "429"}); got != want {
		t.Errorf("sink=%+v, want %+v", got, want)
	}
	if got := p.Sinks[1]; got.Name != "retired" || got.Pending != 1 || got.Breaker != "-" {
		t.Errorf("store-only sink=%+v, want retired with 1 pending", got)
	}
	if len(p.Breakers) != 2 || p.Breakers[0].Name != "discord" || p.Breakers[0].State != "half_open" || p.Breakers[0].Failures != 5 {
		t.Errorf("breakers=%+v, want discord (half_open, 5) first", p.Breakers)
	}
	if len(p.Mentions) != MaxMentions {
		t.Fatalf("mentions=%d, want %d", len(p.Mentions), MaxMentions)
	}
	if got := p.Mentions[0]; got.Text != "(unreadable payload)" || got.Channel != "xqc" {
		t.Errorf("undecodable row=%+v", got)
	}
	if got, want := p.Mentions[1], (Mention{Time: t0, Channel: "xqc", Kind: "reply", Sender: "alice", Text: "hi @me"}); got != want {
		t.Errorf("mention=%+v, want %+v", got, want)
	}
}
