// Package ingest turns what the chat sources read into outbox rows: it is the
// pipeline.Handler every transport feeds, runs the fast path, parses and
// matches chat messages, and group-commits the matches into the store from
// one writer goroutine.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"kickwatch/pipeline"
	"kickwatch/pipeline/kick"
	"kickwatch/pipeline/match"
	"kickwatch/store"
)

// Defaults, each with its reason.
const (
	// DefaultBatchWindow is how long the writer gathers matches into one
	// commit: a few ms of latency buys one fsync for a whole burst.
	DefaultBatchWindow = 5 * time.Millisecond
	// DefaultMaxBatch bounds one transaction.
	DefaultMaxBatch = 512
	// DefaultBuffer is the seed's 500 per channel, for one channel.
	DefaultBuffer = 500
	// maxBuffer bounds memory whatever the channel count.
	maxBuffer = 50000
	// storeTimeout bounds one attempt to store a batch: SQLite's own
	// busy_timeout (5 s) plus the write. Shutdown does not cut an attempt
	// short, so a commit under way finishes instead of losing its batch.
	storeTimeout = 10 * time.Second
	// retryInitial and retryMax bound the wait between attempts while the
	// store fails (disk full): quick at first, then gentle on a sick disk.
	retryInitial = 100 * time.Millisecond
	retryMax     = 5 * time.Second
)

// Outbox is where matches go.
type Outbox interface {
	EnqueueBatch(ctx context.Context, items []store.Item) (store.EnqueueResult, error)
}

// Options configure an Ingest.
type Options struct {
	Outbox      Outbox
	Matcher     *match.Matcher
	Wake        func() // called after each commit (the dispatcher's non-blocking wake)
	BatchWindow time.Duration
	MaxBatch    int
	// Buffer is the bound between the sources and the writer, per channel
	// (times the number of channels, at least one, at most 50,000).
	Buffer int
	Now    func() time.Time
	Logger *slog.Logger
	// Seen, when set, reports whether another source already brought this
	// message (the socket and Kick's webhooks both watching a channel, with
	// ids that may differ); such a match is counted as a duplicate and not
	// stored again. It is asked only for matches.
	Seen func(msg *pipeline.ChatMessage, source string, now time.Time) bool
}

// Ingest is the pipeline.Handler of every chat source.
type Ingest struct {
	outbox   Outbox
	wake     func()
	seen     func(*pipeline.ChatMessage, string, time.Time) bool
	window   time.Duration
	maxBatch int
	now      func() time.Time
	log      *slog.Logger

	matcher atomic.Pointer[match.Matcher]
	queue   chan *queued // pointers: a full-size buffer of 50 channels would pin ~6 MB
	stats   *Stats

	mu       sync.Mutex
	perChan  int
	channels atomic.Pointer[map[int64]*ChannelStats] // chatroom id → stats; replaced whole
	sources  map[string]*SourceState

	// One limiter per kind of warning, so one cannot silence another.
	dropWarn  rateLimiter // mentions dropped at the full buffer
	storeWarn rateLimiter // the store failing
	capWarn   rateLimiter // the outbox cap dropping old rows
}

type queued struct {
	m    pipeline.Mention
	done chan error // nil unless the caller waits for the commit
}

// New builds an Ingest. Run must be running for matches to be stored.
func New(o Options) *Ingest {
	in := &Ingest{
		outbox:   o.Outbox,
		wake:     o.Wake,
		seen:     o.Seen,
		window:   o.BatchWindow,
		maxBatch: o.MaxBatch,
		now:      o.Now,
		log:      o.Logger,
		perChan:  o.Buffer,
		stats:    newStats(),
		sources:  map[string]*SourceState{},
	}
	if in.window <= 0 {
		in.window = DefaultBatchWindow
	}
	if in.maxBatch <= 0 {
		in.maxBatch = DefaultMaxBatch
	}
	if in.perChan <= 0 {
		in.perChan = DefaultBuffer
	}
	if in.now == nil {
		in.now = time.Now
	}
	if in.log == nil {
		in.log = slog.New(slog.DiscardHandler)
	}
	if in.wake == nil {
		in.wake = func() {}
	}
	in.log = in.log.With("component", "ingest")
	in.matcher.Store(o.Matcher)
	empty := map[int64]*ChannelStats{}
	in.channels.Store(&empty)
	in.queue = make(chan *queued, in.perChan)
	return in
}

// SetMatcher swaps the match rules (config reload).
func (in *Ingest) SetMatcher(m *match.Matcher) { in.matcher.Store(m) }

// SetChannels sets the channels whose frames are expected, keeping the
// statistics of channels that stay. It does not change the buffer bound
// (see Resize).
func (in *Ingest) SetChannels(chs []pipeline.Channel) {
	in.mu.Lock()
	defer in.mu.Unlock()
	old := *in.channels.Load()
	m := make(map[int64]*ChannelStats, len(chs))
	for _, c := range chs {
		if cs, ok := old[c.ChatroomID]; ok && cs.Slug == c.Slug {
			m[c.ChatroomID] = cs
			continue
		}
		m[c.ChatroomID] = &ChannelStats{Slug: c.Slug, ChatroomID: c.ChatroomID}
	}
	in.channels.Store(&m)
}

// BufferFor is the buffer bound for n channels, perChannel each (DefaultBuffer
// when not positive).
func BufferFor(perChannel, n int) int {
	if perChannel <= 0 {
		perChannel = DefaultBuffer
	}
	if n < 1 {
		n = 1
	}
	return min(perChannel*n, maxBuffer)
}

// Resize sets the buffer bound. It replaces the buffer, so call it before Run
// and before any source calls the handler.
func (in *Ingest) Resize(n int) {
	in.queue = make(chan *queued, max(n, 1))
}

func (in *Ingest) channel(chatroomID int64) *ChannelStats {
	return (*in.channels.Load())[chatroomID]
}

// Prefilter is the fast path: a chat frame that cannot match is counted
// against its channel and dropped without decoding.
func (in *Ingest) Prefilter(raw []byte) bool {
	m := in.matcher.Load()
	if m == nil || !m.Prefilter(raw) {
		return false
	}
	now := in.now().UnixNano()
	in.stats.lastFrame.Store(now)
	if cs := in.channel(chatroomOf(raw)); cs != nil {
		cs.lastFrame.Store(now)
		cs.frames[ResultFiltered].Add(1)
	} else {
		in.stats.unknownFrames[ResultFiltered].Add(1)
	}
	return true
}

// HandleEvent parses, matches and queues one channel event. It never blocks:
// a match that finds the buffer full is dropped and counted.
func (in *Ingest) HandleEvent(ev pipeline.Event) {
	cs := in.channel(ev.ChatroomID)
	received := ev.Received
	if received.IsZero() {
		received = in.now()
	}
	// Any event shows the channel's subscription is alive.
	in.stats.lastFrame.Store(received.UnixNano())
	if cs != nil {
		cs.lastFrame.Store(received.UnixNano())
	}
	if !kick.IsChatMessageEvent(ev.Name) {
		in.count(cs, ResultOtherEvent)
		return
	}
	msg, err := kick.ParseChatMessage(ev.Data)
	if err != nil {
		in.Malformed(ev.Source, "payload", ev.Data)
		in.count(cs, ResultMalformed)
		in.log.Debug("chat message rejected", "source", ev.Source, "error", err)
		return
	}
	if msg.ChatroomID == 0 {
		// The payload has none: the transport channel says where it was sent.
		msg.ChatroomID = ev.ChatroomID
	}
	if cs != nil {
		msg.Channel = cs.Slug
	} else {
		// An event for a channel we did not join: keep it, named by its id.
		msg.Channel = fmt.Sprintf("chatroom-%d", msg.ChatroomID)
	}
	in.offer(context.Background(), cs, &msg, ev.Source, received, nil)
}

// Submit matches msg (from a source that is not a socket: the official
// webhook, a replayed file) and, if it matches, waits until it is durably
// stored. It reports whether msg matched; a nil error with true means the
// mention is stored.
func (in *Ingest) Submit(ctx context.Context, msg *pipeline.ChatMessage, source string) (bool, error) {
	if msg == nil || msg.ID == "" {
		// The message id is the outbox key; without one it cannot be stored.
		return false, errors.New("submit: message has no id")
	}
	received := in.now()
	cs := in.channelBySlug(msg.Channel)
	if cs != nil {
		cs.lastFrame.Store(received.UnixNano())
	}
	done := make(chan error, 1)
	matched, err := in.offer(ctx, cs, msg, source, received, done)
	if !matched || err != nil {
		return matched, err
	}
	select {
	case err := <-done:
		return true, err
	case <-ctx.Done():
		return true, ctx.Err()
	}
}

func (in *Ingest) channelBySlug(slug string) *ChannelStats {
	for _, cs := range *in.channels.Load() {
		if cs.Slug == slug {
			return cs
		}
	}
	return nil
}

// offer matches msg and queues the mention; it reports whether msg matched.
// A full buffer drops the mention, counted and logged, never silently: the
// socket must keep being read so keepalive holds. A waiting caller (done set)
// waits for room instead; err is set when its ctx ends first.
func (in *Ingest) offer(ctx context.Context, cs *ChannelStats, msg *pipeline.ChatMessage, source string, received time.Time, done chan error) (bool, error) {
	m := in.matcher.Load()
	if m == nil {
		in.count(cs, ResultUnmatched)
		return false, nil
	}
	r := m.Evaluate(msg)
	switch {
	case r.Kind == "":
		in.count(cs, ResultUnmatched)
		return false, nil
	case r.Suppressed:
		in.count(cs, ResultSuppressed)
		return false, nil
	}
	if in.seen != nil && in.seen(msg, source, received) {
		in.stats.duplicates.Add(1)
		return true, nil
	}
	mention := pipeline.NewMention(msg, r.Kind, r.Rule, received, source)
	if mention.Channel == "" {
		// The store refuses a row without a channel, and one such row would
		// stall the writer for good.
		mention.Channel = fmt.Sprintf("chatroom-%d", mention.ChatroomID)
	}
	if done != nil {
		select {
		case in.queue <- &queued{m: mention, done: done}:
		case <-ctx.Done():
			return true, fmt.Errorf("submit: %w", ctx.Err())
		}
		in.count(cs, ResultMatched)
		in.countKind(cs, r.Kind)
		return true, nil
	}
	select {
	case in.queue <- &queued{m: mention}:
		in.count(cs, ResultMatched)
		in.countKind(cs, r.Kind)
	default:
		in.count(cs, ResultDropped)
		n := in.stats.dropped.Add(1)
		if in.dropWarn.allow(in.now()) {
			in.log.Warn("store is not keeping up: mention dropped at the ingest buffer",
				"channel", mention.Channel, "message_id", mention.MessageID, "dropped_total", n)
		}
	}
	return true, nil
}

func (in *Ingest) count(cs *ChannelStats, r Result) {
	if cs != nil {
		cs.frames[r].Add(1)
	} else {
		in.stats.unknownFrames[r].Add(1)
	}
}

func (in *Ingest) countKind(cs *ChannelStats, k pipeline.Kind) {
	if cs == nil {
		return
	}
	switch k {
	case pipeline.KindMention:
		cs.mentions[0].Add(1)
	case pipeline.KindReply:
		cs.mentions[1].Add(1)
	case pipeline.KindKeyword:
		cs.mentions[2].Add(1)
	}
}

// Malformed counts a frame a transport could not use.
func (in *Ingest) Malformed(source, reason string, sample []byte) {
	in.stats.malformed(source, reason)
	if in.log.Enabled(context.Background(), slog.LevelDebug) {
		in.log.Debug("malformed frame", "source", source, "reason", reason, "sample", Sample(sample))
	}
}

// ChannelState records a subscription change.
func (in *Ingest) ChannelState(source string, chatroomID int64, state pipeline.ChannelState, err error) {
	cs := in.channel(chatroomID)
	if cs == nil {
		return
	}
	cs.state.Store(int32(state))
	cs.source.Store(&source)
	switch {
	case state == pipeline.ChannelSubscribed:
		in.log.Info("channel subscribed", "source", source, "channel", cs.Slug, "chatroom_id", chatroomID)
	case err != nil:
		in.log.Warn("channel not subscribed", "source", source, "channel", cs.Slug, "chatroom_id", chatroomID, "error", err)
	}
}

// Connected records a transport's connection state.
func (in *Ingest) Connected(source string, up bool, err error) {
	in.mu.Lock()
	st, ok := in.sources[source]
	if !ok {
		st = &SourceState{Name: source}
		in.sources[source] = st
	}
	was := st.Up
	st.Up, st.Since = up, in.now()
	if up {
		st.LastError = ""
	} else if err != nil {
		st.LastError = err.Error()
	}
	if !up && was {
		st.Reconnects++
	}
	in.mu.Unlock()
	if !up {
		// Every channel of this source needs a new subscription.
		for _, cs := range *in.channels.Load() {
			if p := cs.source.Load(); p == nil || *p == source {
				cs.state.Store(int32(pipeline.ChannelPending))
			}
		}
	}
}
