// Package status renders kickwatch's status page: one server-rendered HTML
// page (no JavaScript, refreshed by a meta tag) with the sources, channels,
// sinks, breakers and recent mentions. The daemon builds a Page; this package
// only renders it, escaping and bounding everything, since chat text is
// untrusted. It also has the listener's optional basic auth.
package status

import (
	"cmp"
	"slices"
	"time"

	"kickwatch/breaker"
	"kickwatch/pipeline"
	"kickwatch/pipeline/deliver"
	"kickwatch/pipeline/ingest"
	"kickwatch/store"
)

// Page is everything the status page shows. Render bounds it (see
// MaxMentions and the text limits); any field may be empty.
type Page struct {
	Version string
	Started time.Time // process start, for the uptime
	Now     time.Time // render time; zero means time.Now

	LastFrame    time.Time     // last chat frame of any channel; zero when none
	SilenceAlarm bool          // see metrics.Silent
	SilenceAfter time.Duration // kick.silence_alarm, for the alarm's text

	Warnings []string // shown on top, e.g. "listening on a public address without auth"

	Sources  []Source
	Channels []Channel
	Sinks    []Sink
	Breakers []Breaker
	Mentions []Mention // newest first

	BufferDropped uint64 // matches lost to a full ingest buffer since start
	Lost          uint64 // matches that could not be stored at shutdown

	OutboxAt    time.Time // when the outbox figures were read; zero when never
	OutboxError string    // why the latest read failed; "" when it did not
}

// Source is a chat transport's connection.
type Source struct {
	Name       string
	Up         bool
	Since      time.Time
	Reconnects int
	LastError  string
}

// Channel is one watched channel.
type Channel struct {
	Slug       string
	Source     string
	State      string // pending, subscribed, failed
	LastFrame  time.Time
	Frames     uint64 // all frames seen
	Matched    uint64
	Dropped    uint64 // matches lost to a full ingest buffer
	CapDropped uint64 // outbox rows dropped by the cap, since start
}

// Sink is one delivery target.
type Sink struct {
	Name           string
	Ready          bool   // false while misconfigured
	Paused         string // "", "rate_limited" or "misconfigured"
	PausedUntil    time.Time
	Breaker        string // closed, open, half_open
	BreakerReadyAt time.Time
	Pending        int // outbox depth
	Due            int
	Dead           int // dead letters still in the outbox
	Delivered      int
	Dropped        int // dropped by the cap before delivery
	LastError      string
	LastErrorAt    time.Time
}

// Breaker is one circuit breaker.
type Breaker struct {
	Name     string
	State    string // closed, open, half_open
	Failures int
	Since    time.Time
}

// Mention is one recent mention.
type Mention struct {
	Time    time.Time
	Channel string
	Kind    string
	Sender  string
	Text    string
}

// Input is what the daemon has at hand; Build turns it into a Page.
type Input struct {
	Version      string
	Started      time.Time
	Now          time.Time
	Ingest       ingest.Snapshot
	Outbox       store.Stats // e.g. from metrics' cache (OutboxStats)
	OutboxAt     time.Time   // when Outbox was read; zero when never
	OutboxErr    error
	Workers      []deliver.Status   // (*deliver.Dispatcher).Status()
	Breakers     []breaker.Snapshot // every breaker
	History      []store.Entry      // (*store.Store).History, newest first
	SilenceAlarm bool
	SilenceAfter time.Duration
	Warnings     []string
}

// Build assembles a Page from the daemon's snapshots. Sinks are the workers'
// in their order, then any the outbox names that no worker runs.
func Build(in Input) Page {
	p := Page{
		Version: in.Version, Started: in.Started, Now: in.Now,
		LastFrame: in.Ingest.LastFrame, SilenceAlarm: in.SilenceAlarm, SilenceAfter: in.SilenceAfter,
		Warnings: in.Warnings, BufferDropped: in.Ingest.Dropped(), Lost: in.Ingest.Lost,
		OutboxAt: in.OutboxAt,
	}
	if in.OutboxErr != nil {
		p.OutboxError = in.OutboxErr.Error()
	}
	for _, s := range in.Ingest.Sources {
		p.Sources = append(p.Sources, Source{Name: s.Name, Up: s.Up, Since: s.Since, Reconnects: s.Reconnects,
			LastError: s.LastError})
	}
	for _, c := range in.Ingest.Channels {
		ch := Channel{Slug: c.Slug, Source: c.Source, State: c.State.String(), LastFrame: c.LastFrame,
			Matched: c.Frames[ingest.ResultMatched], Dropped: c.Frames[ingest.ResultDropped],
			CapDropped: in.Ingest.CapDropped[c.Slug]}
		for _, n := range c.Frames {
			ch.Frames += n
		}
		p.Channels = append(p.Channels, ch)
	}

	counts := map[string]store.SinkStats{}
	for _, s := range in.Outbox.Sinks {
		counts[s.Sink] = s
	}
	seen := map[string]bool{}
	for _, w := range in.Workers {
		seen[w.Sink] = true
		c := counts[w.Sink]
		p.Sinks = append(p.Sinks, Sink{Name: w.Sink, Ready: w.Ready, Paused: w.Paused, PausedUntil: w.PausedUntil,
			Breaker: w.Breaker.String(), BreakerReadyAt: w.BreakerReadyAt, Pending: c.Pending, Due: c.Due,
			Dead: c.Dead, Delivered: c.Delivered, Dropped: c.Dropped, LastError: w.LastError, LastErrorAt: w.LastErrorAt})
	}
	for _, c := range in.Outbox.Sinks {
		if !seen[c.Sink] {
			p.Sinks = append(p.Sinks, Sink{Name: c.Sink, Ready: true, Breaker: "-", Pending: c.Pending, Due: c.Due,
				Dead: c.Dead, Delivered: c.Delivered, Dropped: c.Dropped})
		}
	}

	for _, b := range in.Breakers {
		p.Breakers = append(p.Breakers, Breaker{Name: b.Name, State: b.State.String(), Failures: b.Failures,
			Since: b.UpdatedAt})
	}
	slices.SortFunc(p.Breakers, func(a, b Breaker) int { return cmp.Compare(a.Name, b.Name) })

	for _, e := range in.History {
		if len(p.Mentions) == MaxMentions {
			break
		}
		p.Mentions = append(p.Mentions, mentionOf(e))
	}
	return p
}

// mentionOf reads a history row; an unreadable payload still gets a line.
func mentionOf(e store.Entry) Mention {
	m, err := pipeline.DecodeMention(e.Payload)
	if err != nil {
		return Mention{Time: e.CreatedAt, Channel: e.Channel, Kind: "?", Text: "(unreadable payload)"}
	}
	t := m.CreatedAt
	if t.IsZero() {
		t = e.CreatedAt
	}
	return Mention{Time: t, Channel: m.Channel, Kind: string(m.Kind), Sender: m.Sender, Text: m.Content}
}
