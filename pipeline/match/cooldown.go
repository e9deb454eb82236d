package match

import (
	"container/list"
	"sync"
	"time"
)

// maxCooldownEntries bounds the cooldown table: one entry per channel+sender
// seen matching within the window. Past it the least recently kept entry is
// forgotten, which can only let an extra message through, never lose one.
const maxCooldownEntries = 4096

// cooldown remembers when each channel+sender last had a match kept. Entries
// sit in a list ordered by that time (oldest first), so expired and surplus
// entries are evicted from the front in O(1).
type cooldown struct {
	window time.Duration
	max    int
	now    func() time.Time

	mu      sync.Mutex
	order   *list.List // of *cooldownEntry, oldest kept first
	entries map[string]*list.Element
}

type cooldownEntry struct {
	key  string
	kept time.Time
}

func newCooldown(window time.Duration, max int, now func() time.Time) *cooldown {
	return &cooldown{window: window, max: max, now: now, order: list.New(), entries: make(map[string]*list.Element)}
}

// allow reports whether a match for key is kept, and if so starts its window.
func (c *cooldown) allow(key string) bool {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.expire(now)
	if el, ok := c.entries[key]; ok {
		e := el.Value.(*cooldownEntry)
		if d := now.Sub(e.kept); d >= 0 && d < c.window {
			return false
		}
		e.kept = now
		c.order.MoveToBack(el)
		return true
	}
	for len(c.entries) >= c.max {
		c.remove(c.order.Front())
	}
	c.entries[key] = c.order.PushBack(&cooldownEntry{key: key, kept: now})
	return true
}

// expire drops entries whose window has passed. A clock that stepped back
// leaves entries in place; they age out once it passes them again or are
// evicted by the size bound.
func (c *cooldown) expire(now time.Time) {
	for el := c.order.Front(); el != nil; el = c.order.Front() {
		if now.Sub(el.Value.(*cooldownEntry).kept) < c.window {
			return
		}
		c.remove(el)
	}
}

func (c *cooldown) remove(el *list.Element) {
	delete(c.entries, el.Value.(*cooldownEntry).key)
	c.order.Remove(el)
}

// len is the number of remembered entries (for tests).
func (c *cooldown) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
