package app

import (
	"testing"
	"time"

	"kickwatch/pipeline"
	"kickwatch/pipeline/ingest"
)

func TestSilence_AlarmFollowsTheClock(t *testing.T) {
	start := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	const threshold = 6 * time.Hour
	subscribed := func(last time.Time) ingest.Snapshot {
		return ingest.Snapshot{LastFrame: last, Channels: []ingest.ChannelSnapshot{
			{Slug: "a", State: pipeline.ChannelSubscribed}, {Slug: "b", State: pipeline.ChannelSubscribed}}}
	}
	s := &silence{}
	steps := []struct {
		name      string
		now       time.Time
		threshold time.Duration
		snap      ingest.Snapshot
		on        bool
		changed   bool
		since     time.Time
	}{
		{"quiet start, below threshold", start.Add(5 * time.Hour), threshold, subscribed(time.Time{}), false, false, time.Time{}},
		{"quiet since start for 6h", start.Add(6 * time.Hour), threshold, subscribed(time.Time{}), true, true, start},
		{"still quiet: no new transition", start.Add(7 * time.Hour), threshold, subscribed(time.Time{}), true, false, start},
		{"a frame arrives", start.Add(7*time.Hour + time.Minute), threshold, subscribed(start.Add(7 * time.Hour)), false, true, time.Time{}},
		{"quiet again for 6h after that frame", start.Add(13 * time.Hour), threshold, subscribed(start.Add(7 * time.Hour)), true, true, start.Add(7 * time.Hour)},
		{"a channel drops: not the alarm's business", start.Add(14 * time.Hour), threshold,
			ingest.Snapshot{LastFrame: start.Add(7 * time.Hour), Channels: []ingest.ChannelSnapshot{
				{Slug: "a", State: pipeline.ChannelSubscribed}, {Slug: "b", State: pipeline.ChannelPending}}}, false, true, time.Time{}},
		{"no channels at all", start.Add(20 * time.Hour), threshold, ingest.Snapshot{}, false, false, time.Time{}},
		{"disabled", start.Add(30 * time.Hour), 0, subscribed(time.Time{}), false, false, time.Time{}},
	}
	for _, st := range steps {
		changed := s.update(st.now, start, st.threshold, st.snap)
		on, since := s.state()
		if on != st.on || changed != st.changed || !since.Equal(st.since) {
			t.Fatalf("%s: on=%v changed=%v since=%v, want on=%v changed=%v since=%v",
				st.name, on, changed, since, st.on, st.changed, st.since)
		}
	}
	var none *silence
	if on, _ := none.state(); on {
		t.Error("a nil alarm is on")
	}
}

func TestSilence_CheckInterval(t *testing.T) {
	for _, tt := range []struct{ threshold, want time.Duration }{
		{6 * time.Hour, time.Minute},
		{5 * time.Second, time.Second},
		{100 * time.Second, 10 * time.Second},
	} {
		if got := silenceCheckEvery(tt.threshold); got != tt.want {
			t.Errorf("silenceCheckEvery(%v) = %v, want %v", tt.threshold, got, tt.want)
		}
	}
}
