package metrics

import (
	"runtime"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"kickwatch/breaker"
	"kickwatch/pipeline"
	"kickwatch/pipeline/ingest"
)

// The metrics read from snapshots at scrape time. Descriptors are immutable.
var (
	descBuildInfo = prometheus.NewDesc("kickwatch_build_info",
		"Always 1; the labels name the running build.", []string{"version", "goversion"}, nil)

	descFrames = prometheus.NewDesc("kickwatch_chat_frames_total",
		"Chat frames by channel and what became of them (matched, filtered, unmatched, suppressed, dropped, malformed, other_event).",
		[]string{"channel", "result"}, nil)
	descMalformed = prometheus.NewDesc("kickwatch_malformed_frames_total",
		"Frames a source could not use, by source and reason (oversized, json, utf8, …).",
		[]string{"source", "reason"}, nil)
	descMentions = prometheus.NewDesc("kickwatch_mentions_total",
		"Matched chat messages by channel and kind (mention, reply, keyword).", []string{"channel", "kind"}, nil)
	descCapDropped = prometheus.NewDesc("kickwatch_outbox_cap_dropped_total",
		"Outbox rows dropped by the outbox cap, by channel, since start.", []string{"channel"}, nil)
	descDuplicates = prometheus.NewDesc("kickwatch_duplicate_matches_total",
		"Matches the outbox already had (redelivered chat frames).", nil, nil)
	descLost = prometheus.NewDesc("kickwatch_lost_matches_total",
		"Matches that could not be stored at shutdown.", nil, nil)
	descSubscribed = prometheus.NewDesc("kickwatch_channel_subscribed",
		"1 while the channel's chat subscription is confirmed.", []string{"channel"}, nil)
	descChannelLast = prometheus.NewDesc("kickwatch_channel_last_frame_timestamp_seconds",
		"Unix time of the channel's last chat frame (absent before the first).", []string{"channel"}, nil)
	descLastFrame = prometheus.NewDesc("kickwatch_last_chat_frame_timestamp_seconds",
		"Unix time of the last chat frame of any channel (absent before the first).", nil, nil)
	descSilence = prometheus.NewDesc("kickwatch_silence_alarm",
		"1 while no chat frame arrived on any channel for kick.silence_alarm although every channel looks subscribed.", nil, nil)
	descConnected = prometheus.NewDesc("kickwatch_source_connected",
		"1 while the chat source's socket is up.", []string{"source"}, nil)
	descReconnects = prometheus.NewDesc("kickwatch_source_reconnects_total",
		"Times the chat source's socket went down after being up.", []string{"source"}, nil)

	descOutboxMessages = prometheus.NewDesc("kickwatch_outbox_messages",
		"Rows in the outbox, delivered history included.", nil, nil)
	descOutboxUndelivered = prometheus.NewDesc("kickwatch_outbox_undelivered",
		"Rows some sink still has to deliver.", nil, nil)
	descOutboxPending = prometheus.NewDesc("kickwatch_outbox_pending",
		"Outbox depth: rows pending at the sink.", []string{"sink"}, nil)
	descOutboxDue = prometheus.NewDesc("kickwatch_outbox_due",
		"Pending rows at the sink that are due now.", []string{"sink"}, nil)
	descOutboxDead = prometheus.NewDesc("kickwatch_outbox_dead",
		"Dead-lettered rows at the sink still in the outbox.", []string{"sink"}, nil)
	descOutboxAt = prometheus.NewDesc("kickwatch_outbox_stats_timestamp_seconds",
		"Unix time the outbox figures above were read (they are cached).", nil, nil)
	descOutboxErrors = prometheus.NewDesc("kickwatch_outbox_stats_errors_total",
		"Failed reads of the outbox figures.", nil, nil)

	descBreakerState = prometheus.NewDesc("kickwatch_breaker_state",
		"1 when the circuit breaker is in the state (closed, open, half_open); for \"other\", how many are.",
		[]string{"breaker", "state"}, nil)
	descBreakerFailures = prometheus.NewDesc("kickwatch_breaker_failures",
		"The circuit breaker's consecutive failures.", []string{"breaker"}, nil)
)

var allDescs = []*prometheus.Desc{
	descBuildInfo, descFrames, descMalformed, descMentions, descCapDropped, descDuplicates, descLost,
	descSubscribed, descChannelLast, descLastFrame, descSilence, descConnected, descReconnects,
	descOutboxMessages, descOutboxUndelivered, descOutboxPending, descOutboxDue, descOutboxDead, descOutboxAt,
	descOutboxErrors, descBreakerState, descBreakerFailures,
}

var breakerStates = []breaker.State{breaker.Closed, breaker.Open, breaker.HalfOpen}

// snapshotCollector is Metrics seen as the collector of the scrape-time
// metrics.
type snapshotCollector Metrics

// Describe implements prometheus.Collector.
func (c *snapshotCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range allDescs {
		ch <- d
	}
}

// Collect implements prometheus.Collector. Label values that fold into
// "other" are summed, so no series is emitted twice.
func (c *snapshotCollector) Collect(ch chan<- prometheus.Metric) {
	m := (*Metrics)(c)
	ch <- constMetric(descBuildInfo, prometheus.GaugeValue, 1, versionLabel(m.opts.Version), runtime.Version())
	if m.opts.Ingest != nil {
		m.collectIngest(ch, m.opts.Ingest())
	}
	if m.cache.fetch != nil {
		m.collectOutbox(ch)
	}
	if m.opts.Breakers != nil {
		m.collectBreakers(ch, m.opts.Breakers())
	}
}

type pair [2]string

func (m *Metrics) collectIngest(ch chan<- prometheus.Metric, s ingest.Snapshot) {
	chans := channelLabels{}
	for _, c := range s.Channels {
		chans[c.Slug] = struct{}{}
	}
	frames, mentions := map[pair]uint64{}, map[pair]uint64{}
	capDropped := map[string]uint64{}
	for _, c := range s.Channels {
		l := chans.value(c.Slug)
		for r, n := range c.Frames {
			frames[pair{l, r.String()}] += n
		}
		for k, n := range c.Mentions {
			mentions[pair{l, kindLabel(k)}] += n
		}
		capDropped[l] += 0
		if l == other {
			continue // gauges of one channel make no sense summed
		}
		ch <- constMetric(descSubscribed, prometheus.GaugeValue, b2f(c.State == pipeline.ChannelSubscribed), l)
		if !c.LastFrame.IsZero() {
			ch <- constMetric(descChannelLast, prometheus.GaugeValue, unix(c.LastFrame), l)
		}
	}
	for r, n := range s.Unknown {
		frames[pair{other, r.String()}] += n
	}
	for slug, n := range s.CapDropped {
		capDropped[chans.value(slug)] += n
	}
	emitPairs(ch, descFrames, prometheus.CounterValue, frames)
	emitPairs(ch, descMentions, prometheus.CounterValue, mentions)
	emitSingles(ch, descCapDropped, prometheus.CounterValue, capDropped)

	malformed := map[pair]uint64{}
	for k, n := range s.Malformed {
		malformed[pair{m.sources.value(k[0]), m.reasons.value(k[1])}] += n
	}
	emitPairs(ch, descMalformed, prometheus.CounterValue, malformed)

	connected, reconnects := map[string]uint64{}, map[string]uint64{}
	for _, src := range s.Sources {
		l := m.sources.value(src.Name)
		if src.Up {
			connected[l] = 1
		} else {
			connected[l] += 0
		}
		reconnects[l] += uint64(max(src.Reconnects, 0))
	}
	emitSingles(ch, descConnected, prometheus.GaugeValue, connected)
	emitSingles(ch, descReconnects, prometheus.CounterValue, reconnects)

	ch <- constMetric(descDuplicates, prometheus.CounterValue, float64(s.Duplicates))
	ch <- constMetric(descLost, prometheus.CounterValue, float64(s.Lost))
	if !s.LastFrame.IsZero() {
		ch <- constMetric(descLastFrame, prometheus.GaugeValue, unix(s.LastFrame))
	}
	ch <- constMetric(descSilence, prometheus.GaugeValue, b2f(m.Silent()))
}

func (m *Metrics) collectOutbox(ch chan<- prometheus.Metric) {
	st, at, errs := m.cache.peek()
	ch <- constMetric(descOutboxErrors, prometheus.CounterValue, float64(errs))
	if at.IsZero() {
		return // never read yet: absent beats a false zero
	}
	ch <- constMetric(descOutboxAt, prometheus.GaugeValue, unix(at))
	ch <- constMetric(descOutboxMessages, prometheus.GaugeValue, float64(st.Messages))
	ch <- constMetric(descOutboxUndelivered, prometheus.GaugeValue, float64(st.Undelivered))
	pending, due, dead := map[string]uint64{}, map[string]uint64{}, map[string]uint64{}
	for _, ss := range st.Sinks {
		l := m.sinks.value(ss.Sink)
		pending[l] += uint64(max(ss.Pending, 0))
		due[l] += uint64(max(ss.Due, 0))
		dead[l] += uint64(max(ss.Dead, 0))
	}
	emitSingles(ch, descOutboxPending, prometheus.GaugeValue, pending)
	emitSingles(ch, descOutboxDue, prometheus.GaugeValue, due)
	emitSingles(ch, descOutboxDead, prometheus.GaugeValue, dead)
}

func (m *Metrics) collectBreakers(ch chan<- prometheus.Metric, snaps []breaker.Snapshot) {
	states, failures := map[pair]uint64{}, map[string]uint64{}
	for _, b := range snaps {
		l := m.breakers.value(b.Name)
		for _, s := range breakerStates {
			states[pair{l, s.String()}] += 0
		}
		states[pair{l, breakerStateLabel(b.State)}]++
		failures[l] += uint64(max(b.Failures, 0))
	}
	emitPairs(ch, descBreakerState, prometheus.GaugeValue, states)
	emitSingles(ch, descBreakerFailures, prometheus.GaugeValue, failures)
}

func emitPairs(ch chan<- prometheus.Metric, d *prometheus.Desc, t prometheus.ValueType, vals map[pair]uint64) {
	for k, n := range vals {
		ch <- constMetric(d, t, float64(n), k[0], k[1])
	}
}

func emitSingles(ch chan<- prometheus.Metric, d *prometheus.Desc, t prometheus.ValueType, vals map[string]uint64) {
	for k, n := range vals {
		ch <- constMetric(d, t, float64(n), k)
	}
}

func kindLabel(k pipeline.Kind) string {
	switch k {
	case pipeline.KindMention, pipeline.KindReply, pipeline.KindKeyword:
		return string(k)
	}
	return other
}

// versionLabel keeps a build's version printable and short.
func versionLabel(v string) string {
	v = strings.ToValidUTF8(v, "?")
	if len(v) > maxLabelLen {
		v = v[:maxLabelLen]
	}
	return strings.ToValidUTF8(v, "")
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func unix(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

// constMetric is prometheus.NewConstMetric that reports a bad value as an
// invalid metric (a scrape error) instead of panicking.
func constMetric(d *prometheus.Desc, t prometheus.ValueType, v float64, labels ...string) prometheus.Metric {
	cm, err := prometheus.NewConstMetric(d, t, v, labels...)
	if err != nil {
		return prometheus.NewInvalidMetric(d, err)
	}
	return cm
}
