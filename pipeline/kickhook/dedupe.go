package kickhook

import (
	"hash/maphash"
	"strings"
	"sync"
	"time"

	"kickwatch/pipeline"
)

// Dedupe defaults.
const (
	// DefaultDedupeWindow: both sources give created_at to the second, so the
	// same message differs by rounding at most; 2 s leaves room for that and
	// not for a sender repeating themselves.
	DefaultDedupeWindow = 2 * time.Second
	// DefaultDedupeMaxAge: webhooks are reported arriving minutes to hours late
	// (KickDevDocs#162, #165), so a socket copy is remembered for 6 hours.
	DefaultDedupeMaxAge = 6 * time.Hour
	// DefaultDedupeSize matched mentions are remembered (about 100 KiB).
	DefaultDedupeSize = 2048
)

// Dedupe recognises one chat message arriving from two sources (the socket
// and the webhook) when the two copies do not carry the same message id; the
// reference does not establish that the webhook's message_id equals the
// socket's id. When the ids are equal the outbox's uniqueness already makes
// the second copy a no-op and Dedupe is not needed.
//
// Two messages are the same when they come from different sources, in the
// same channel, from the same sender (case-insensitive), with the same
// content, and their created_at times are within Window. A repeat from the
// same source is never a duplicate (a user can send the same text twice), and
// a message without created_at or from an anonymous sender is never dropped:
// a duplicate notification is better than a lost one.
//
// Call Seen for matched messages only, after the match and before the
// outbox, from every source. Memory is bounded by Size.
type Dedupe struct {
	window time.Duration
	maxAge time.Duration
	seed   maphash.Seed

	mu    sync.Mutex
	ring  []dedupeEntry
	next  int
	index map[uint64][]int // key hash → slots
}

type dedupeEntry struct {
	key     uint64
	id      string
	source  string
	created time.Time
	seen    time.Time
	used    bool
}

// DedupeOptions configure a Dedupe; zero fields take the defaults.
type DedupeOptions struct {
	Window time.Duration // created_at tolerance
	MaxAge time.Duration // how long a message is remembered
	Size   int           // how many messages are remembered
}

// NewDedupe returns a Dedupe.
func NewDedupe(o DedupeOptions) *Dedupe {
	if o.Window <= 0 {
		o.Window = DefaultDedupeWindow
	}
	if o.MaxAge <= 0 {
		o.MaxAge = DefaultDedupeMaxAge
	}
	if o.Size <= 0 {
		o.Size = DefaultDedupeSize
	}
	return &Dedupe{
		window: o.Window,
		maxAge: o.MaxAge,
		seed:   maphash.MakeSeed(),
		ring:   make([]dedupeEntry, o.Size),
		index:  make(map[uint64][]int, o.Size),
	}
}

// Seen reports whether msg, read from source at now, is a copy of a message
// already seen from another source; if it is not, it is remembered.
func (d *Dedupe) Seen(msg *pipeline.ChatMessage, source string, now time.Time) bool {
	if msg == nil || msg.Sender == "" || msg.CreatedAt.IsZero() {
		return false
	}
	key := d.key(msg)
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, i := range d.index[key] {
		e := &d.ring[i]
		if now.Sub(e.seen) > d.maxAge {
			continue
		}
		if e.id == msg.ID {
			return e.source != source // the same id from the same source is the outbox's job
		}
		if e.source == source {
			continue
		}
		if dt := e.created.Sub(msg.CreatedAt); dt <= d.window && dt >= -d.window {
			return true
		}
	}
	d.remember(dedupeEntry{key: key, id: msg.ID, source: source, created: msg.CreatedAt, seen: now, used: true})
	return false
}

func (d *Dedupe) remember(e dedupeEntry) {
	if old := d.ring[d.next]; old.used {
		d.unindex(old.key, d.next)
	}
	d.ring[d.next] = e
	d.index[e.key] = append(d.index[e.key], d.next)
	d.next = (d.next + 1) % len(d.ring)
}

func (d *Dedupe) unindex(key uint64, slot int) {
	slots := d.index[key]
	for j, s := range slots {
		if s == slot {
			slots = append(slots[:j], slots[j+1:]...)
			break
		}
	}
	if len(slots) == 0 {
		delete(d.index, key)
		return
	}
	d.index[key] = slots
}

func (d *Dedupe) key(msg *pipeline.ChatMessage) uint64 {
	var h maphash.Hash
	h.SetSeed(d.seed)
	h.WriteString(strings.ToLower(msg.Channel))
	h.WriteByte(0)
	h.WriteString(strings.ToLower(msg.Sender))
	h.WriteByte(0)
	h.WriteString(msg.Content)
	return h.Sum64()
}
