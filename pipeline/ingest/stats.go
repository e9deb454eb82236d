package ingest

import (
	"bytes"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"kickwatch/pipeline"
)

// Result is what became of one chat frame.
type Result int

// The frame results, as counted per channel.
const (
	ResultMatched    Result = iota // matched and queued for the outbox
	ResultFiltered                 // dropped by the fast path, undecoded
	ResultUnmatched                // decoded, no rule matched
	ResultSuppressed               // matched within the sender's cooldown
	ResultDropped                  // matched, but the buffer to the store was full
	ResultMalformed                // a chat message that could not be parsed
	ResultOtherEvent               // not a chat message (bans, pins, …)
	numResults
)

var resultNames = [numResults]string{"matched", "filtered", "unmatched", "suppressed", "dropped", "malformed", "other_event"}

func (r Result) String() string { return resultNames[r] }

// Results lists every result, for exporters.
func Results() []Result {
	out := make([]Result, numResults)
	for i := range out {
		out[i] = Result(i)
	}
	return out
}

// ChannelStats are one channel's counters, updated without locks.
type ChannelStats struct {
	Slug       string
	ChatroomID int64

	frames    [numResults]atomic.Uint64
	mentions  [3]atomic.Uint64 // mention, reply, keyword
	lastFrame atomic.Int64     // unix ns
	state     atomic.Int32     // pipeline.ChannelState
	source    atomic.Pointer[string]
}

// ChannelSnapshot is a copy of a channel's state and counters.
type ChannelSnapshot struct {
	Slug       string
	ChatroomID int64
	Source     string
	State      pipeline.ChannelState
	LastFrame  time.Time // zero when no frame yet
	Frames     map[Result]uint64
	Mentions   map[pipeline.Kind]uint64
}

func (cs *ChannelStats) snapshot() ChannelSnapshot {
	s := ChannelSnapshot{
		Slug:       cs.Slug,
		ChatroomID: cs.ChatroomID,
		State:      pipeline.ChannelState(cs.state.Load()),
		Frames:     map[Result]uint64{},
		Mentions: map[pipeline.Kind]uint64{
			pipeline.KindMention: cs.mentions[0].Load(),
			pipeline.KindReply:   cs.mentions[1].Load(),
			pipeline.KindKeyword: cs.mentions[2].Load(),
		},
	}
	if p := cs.source.Load(); p != nil {
		s.Source = *p
	}
	if ns := cs.lastFrame.Load(); ns != 0 {
		s.LastFrame = time.Unix(0, ns).UTC()
	}
	for i := range cs.frames {
		s.Frames[Result(i)] = cs.frames[i].Load()
	}
	return s
}

// SourceState is a transport's connection state.
type SourceState struct {
	Name       string
	Up         bool
	Since      time.Time
	Reconnects int
	LastError  string
}

// Stats are the counters that belong to no one channel.
type Stats struct {
	lastFrame     atomic.Int64 // unix ns, any channel
	unknownFrames [numResults]atomic.Uint64
	duplicates    atomic.Uint64
	lost          atomic.Uint64 // could not be stored at shutdown
	dropped       atomic.Uint64 // matches the full buffer dropped, all channels

	mu          sync.Mutex
	malformedBy map[[2]string]uint64 // source, reason
	capDrops    map[string]uint64    // per channel slug, this process
}

func newStats() *Stats {
	return &Stats{malformedBy: map[[2]string]uint64{}, capDrops: map[string]uint64{}}
}

func (s *Stats) malformed(source, reason string) {
	s.mu.Lock()
	s.malformedBy[[2]string{source, reason}]++
	s.mu.Unlock()
}

func (s *Stats) capDropped(ch string, n int) {
	s.mu.Lock()
	s.capDrops[ch] += uint64(n)
	s.mu.Unlock()
}

// Snapshot is a copy of everything ingest counts.
type Snapshot struct {
	LastFrame  time.Time // any channel; zero when none yet
	Channels   []ChannelSnapshot
	Sources    []SourceState
	Unknown    map[Result]uint64    // frames of channels not configured
	Malformed  map[[2]string]uint64 // (source, reason) → frames
	CapDropped map[string]uint64    // channel → rows dropped by the cap since start
	Duplicates uint64               // matches the outbox already had
	Lost       uint64               // matches that could not be stored at shutdown
}

// Snapshot copies the counters and states.
func (in *Ingest) Snapshot() Snapshot {
	s := Snapshot{Unknown: map[Result]uint64{}}
	if ns := in.stats.lastFrame.Load(); ns != 0 {
		s.LastFrame = time.Unix(0, ns).UTC()
	}
	chans := *in.channels.Load()
	for _, id := range slices.Sorted(maps.Keys(chans)) {
		s.Channels = append(s.Channels, chans[id].snapshot())
	}
	for i := range in.stats.unknownFrames {
		s.Unknown[Result(i)] = in.stats.unknownFrames[i].Load()
	}
	in.stats.mu.Lock()
	s.Malformed = maps.Clone(in.stats.malformedBy)
	s.CapDropped = maps.Clone(in.stats.capDrops)
	in.stats.mu.Unlock()
	s.Duplicates = in.stats.duplicates.Load()
	s.Lost = in.stats.lost.Load()
	in.mu.Lock()
	for _, name := range slices.Sorted(maps.Keys(in.sources)) {
		s.Sources = append(s.Sources, *in.sources[name])
	}
	in.mu.Unlock()
	return s
}

// Dropped sums the matches every channel lost to a full buffer.
func (s Snapshot) Dropped() uint64 {
	n := s.Unknown[ResultDropped]
	for _, c := range s.Channels {
		n += c.Frames[ResultDropped]
	}
	return n
}

// channelKey is the envelope's channel key and the start of a chat channel
// name. With its bare quotes it can only be the frame's own key: inside a
// JSON string (a message's text) every quote is escaped, so chat text cannot
// forge it and have its frame counted against another channel.
var channelKey = []byte(`"channel":"chatrooms.`)

// keyWindow is how far from either end of a frame the channel key is looked
// for first: Kick's Pusher frames end with it, Centrifugo pushes start with
// it, and searching a whole frame costs more than the prefilter itself.
const keyWindow = 64

// chatroomOf finds the chatroom id in a raw frame's `"channel":"chatrooms.{id}`
// without decoding it; 0 when there is none.
func chatroomOf(raw []byte) int64 {
	i := -1
	if n := len(raw); n > 2*keyWindow {
		if j := bytes.Index(raw[n-keyWindow:], channelKey); j >= 0 {
			i = n - keyWindow + j
		} else if j := bytes.Index(raw[:keyWindow], channelKey); j >= 0 {
			i = j
		}
	}
	if i < 0 {
		if i = bytes.Index(raw, channelKey); i < 0 {
			return 0
		}
	}
	var id int64
	for _, c := range raw[i+len(channelKey):] {
		if c < '0' || c > '9' {
			break
		}
		id = id*10 + int64(c-'0')
		if id > 1<<53 {
			return 0
		}
	}
	return id
}

// Sample is a short, printable excerpt of an outside input for debug logs.
func Sample(b []byte) string {
	const max = 200
	cut := b
	if len(cut) > max {
		cut = cut[:max]
	}
	s := []rune{}
	for len(cut) > 0 {
		r, n := utf8.DecodeRune(cut)
		cut = cut[n:]
		if r == utf8.RuneError || r < 0x20 || r == 0x7f {
			r = '.'
		}
		s = append(s, r)
	}
	out := string(s)
	if len(b) > max {
		out += "…"
	}
	return out
}

// rateLimiter allows one event per interval (a minute), for repeated warnings.
type rateLimiter struct {
	mu   sync.Mutex
	last time.Time
}

func (r *rateLimiter) allow(now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.last.IsZero() && now.Sub(r.last) < time.Minute {
		return false
	}
	r.last = now
	return true
}
