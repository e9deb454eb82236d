package kickhook

import (
	"sync"
	"time"
)

// replayCache remembers recently handled Kick-Event-Message-Id values: a ring
// of fixed size plus an index, so memory is bounded whatever arrives. An id is
// kept until it is older than ttl or pushed out by newer ones; the outbox's
// uniqueness on the chat message id still stops a replay that outlived it.
type replayCache struct {
	mu    sync.Mutex
	ttl   time.Duration
	ring  []replayEntry
	next  int
	index map[string]int // id → slot in ring
}

type replayEntry struct {
	id   string
	seen time.Time
}

func newReplayCache(size int, ttl time.Duration) *replayCache {
	return &replayCache{
		ttl:   ttl,
		ring:  make([]replayEntry, size),
		index: make(map[string]int, size),
	}
}

// seen reports whether id was added within ttl of now.
func (c *replayCache) seen(id string, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	i, ok := c.index[id]
	return ok && now.Sub(c.ring[i].seen) <= c.ttl
}

// add records id as handled at now, evicting the oldest entry when full.
func (c *replayCache) add(id string, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if i, ok := c.index[id]; ok {
		c.ring[i].seen = now
		return
	}
	old := c.ring[c.next]
	if old.id != "" && c.index[old.id] == c.next {
		delete(c.index, old.id)
	}
	c.ring[c.next] = replayEntry{id: id, seen: now}
	c.index[id] = c.next
	c.next = (c.next + 1) % len(c.ring)
}

// len is the number of ids held.
func (c *replayCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.index)
}
