package main

import (
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"kickwatch/pipeline/discord/discordfake"
)

// Each mention the generator sends carries a marker "lg<seq>z" in its text,
// so the Discord fake can tell which mentions a request carried.
const (
	markerPrefix = "lg"
	markerSuffix = 'z'
)

func marker(seq int64) string {
	return markerPrefix + strconv.FormatInt(seq, 10) + string(markerSuffix)
}

// markers appends the sequence numbers of the markers in s to out.
func markers(s string, out []int64) []int64 {
	for {
		i := strings.Index(s, markerPrefix)
		if i < 0 {
			return out
		}
		s = s[i+len(markerPrefix):]
		j := 0
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		if j > 0 && j <= 18 && j < len(s) && s[j] == markerSuffix {
			if v, err := strconv.ParseInt(s[:j], 10, 64); err == nil {
				out = append(out, v)
			}
		}
		s = s[j:]
	}
}

// payloadMarkers returns the markers in a Discord payload's embeds (each
// mention is one embed; its text is in the "Message" field).
func payloadMarkers(p *discordfake.Payload) []int64 {
	var out []int64
	for _, e := range p.Embeds {
		for _, f := range e.Fields {
			if f.Name == "Message" {
				out = markers(f.Value, out)
			}
		}
	}
	return out
}

// tracker pairs each mention's send time with its first arrival at Discord.
type tracker struct {
	mu       sync.Mutex
	sent     []time.Time     // by mention seq
	lat      []time.Duration // by mention seq; 0 until received
	received int
	dups     int
	unknown  int
	first    time.Time // first and last arrival
	last     time.Time
	changed  chan struct{} // closed and replaced on every arrival
}

func newTracker() *tracker { return &tracker{changed: make(chan struct{})} }

// send records that the next mention goes out at t and returns its seq.
func (t *tracker) send(at time.Time) int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.sent = append(t.sent, at)
	t.lat = append(t.lat, 0)
	return int64(len(t.sent) - 1)
}

// arrived records the mentions of one accepted Discord request.
func (t *tracker) arrived(at time.Time, seqs []int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, s := range seqs {
		switch {
		case s < 0 || s >= int64(len(t.sent)):
			t.unknown++
		case t.lat[s] != 0:
			t.dups++
		default:
			t.lat[s] = max(at.Sub(t.sent[s]), time.Nanosecond)
			t.received++
		}
	}
	if len(seqs) > 0 {
		if t.first.IsZero() {
			t.first = at
		}
		t.last = at
		close(t.changed)
		t.changed = make(chan struct{})
	}
}

// counts returns how many mentions were sent and received so far, and a
// channel closed at the next arrival.
func (t *tracker) counts() (sent, received int, changed <-chan struct{}) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.sent), t.received, t.changed
}

// extra returns the duplicate and unknown arrivals, and the first and last
// arrival times.
func (t *tracker) extra() (dups, unknown int, first, last time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.dups, t.unknown, t.first, t.last
}

// latencyStats summarises the mentions with seq in [from, to).
type latencyStats struct {
	Sent, Received     int
	P50, P90, P99, Max time.Duration
}

func (t *tracker) stats(from, to int64) latencyStats {
	t.mu.Lock()
	defer t.mu.Unlock()
	to = min(to, int64(len(t.sent)))
	var ls latencyStats
	var ds []time.Duration
	for s := max(from, 0); s < to; s++ {
		ls.Sent++
		if d := t.lat[s]; d > 0 {
			ds = append(ds, d)
		}
	}
	ls.Received = len(ds)
	if len(ds) == 0 {
		return ls
	}
	slices.Sort(ds)
	ls.P50, ls.P90, ls.P99 = percentile(ds, 0.50), percentile(ds, 0.90), percentile(ds, 0.99)
	ls.Max = ds[len(ds)-1]
	return ls
}

// percentile is the nearest-rank percentile of sorted ds.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	i := int(p*float64(len(ds))+0.999999) - 1
	return ds[min(max(i, 0), len(ds)-1)]
}
