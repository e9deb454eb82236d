package metrics

import (
	"context"
	"errors"
	"sync"
	"time"

	"kickwatch/store"
)

// errNoOutbox is returned by OutboxStats when Options.Outbox is nil.
var errNoOutbox = errors.New("outbox stats: not configured")

// statsCache holds the latest store summary so that scrapes (and the status
// page) query SQLite at most once per ttl, one query at a time, each under a
// timeout. A failed query is remembered for ttl too: a sick database is not
// asked again by every scrape.
type statsCache struct {
	fetch   func(context.Context) (store.Stats, error)
	ttl     time.Duration
	timeout time.Duration
	now     func() time.Time

	sem chan struct{} // size 1: the query in flight

	mu      sync.Mutex
	val     store.Stats
	valAt   time.Time // zero until a query succeeded
	tried   time.Time // last query, successful or not
	lastErr error
	errors  uint64
}

// get returns the summary, querying the store when the cached one is older
// than ttl. On failure it returns the last good summary (if any) with the
// error; at is when that summary was read (zero when never).
func (c *statsCache) get(ctx context.Context) (st store.Stats, at time.Time, err error) {
	if c.fetch == nil {
		return store.Stats{}, time.Time{}, errNoOutbox
	}
	if st, at, fresh, err := c.peekFresh(); fresh {
		return st, at, err
	}
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		st, at, _ := c.peek()
		return st, at, ctx.Err()
	}
	defer func() { <-c.sem }()
	// Another caller may have refreshed while this one waited.
	if st, at, fresh, err := c.peekFresh(); fresh {
		return st, at, err
	}
	qctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	got, err := c.fetch(qctx)
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tried, c.lastErr = now, err
	if err != nil {
		if ctx.Err() == nil { // the caller going away is not the store's failure
			c.errors++
		} else {
			c.tried = time.Time{} // let the next caller try at once
		}
		return c.val, c.valAt, err
	}
	c.val, c.valAt = got, now
	return got, now, nil
}

// peekFresh returns the cached result and whether it is younger than ttl.
func (c *statsCache) peekFresh() (store.Stats, time.Time, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fresh := !c.tried.IsZero() && c.now().Sub(c.tried) < c.ttl
	return c.val, c.valAt, fresh, c.lastErr
}

// peek returns the last good summary without querying; at is zero when there
// is none yet.
func (c *statsCache) peek() (store.Stats, time.Time, uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.val, c.valAt, c.errors
}
