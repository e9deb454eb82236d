package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

const (
	sqlInsertMessage = `INSERT INTO messages (key, channel, payload, created_at, pending)
		VALUES (?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING`
	sqlOldestChannel  = `SELECT id FROM messages WHERE channel = ? AND pending > 0 ORDER BY id LIMIT ?`
	sqlOldestTotal    = `SELECT id FROM messages WHERE pending > 0 ORDER BY id LIMIT ?`
	sqlDropDeliveries = `UPDATE deliveries SET state = 3, last_error = 'dropped: outbox cap reached' WHERE state = 0`
	sqlDropMessages   = `UPDATE messages SET pending = 0, done_at = ?`
	// The cap drops a batch's victims with two statements per victims query
	// (the oldest of a channel, or the oldest overall), not two per row.
	sqlDropChannelDeliveries = sqlDropDeliveries + ` AND message_id IN (` + sqlOldestChannel + `)`
	sqlDropChannelMessages   = sqlDropMessages + ` WHERE id IN (` + sqlOldestChannel + `)`
	sqlDropTotalDeliveries   = sqlDropDeliveries + ` AND message_id IN (` + sqlOldestTotal + `)`
	sqlDropTotalMessages     = sqlDropMessages + ` WHERE id IN (` + sqlOldestTotal + `)`
	sqlOldestTotalChannels   = `SELECT channel, count(*) FROM messages WHERE id IN (` + sqlOldestTotal + `) GROUP BY channel`
	sqlCountDropped          = `INSERT INTO channel_stats (channel, dropped) VALUES (?, ?)
		ON CONFLICT (channel) DO UPDATE SET dropped = dropped + excluded.dropped`
)

// insertDeliveriesSQL inserts, in one statement, a pending delivery for each
// of n sinks (the first n arguments) of every message whose id lies between
// the last two arguments. One statement per batch instead of one per row and
// sink is what lifts the group commit past 50k mentions/s (BENCHMARKS.md).
func insertDeliveriesSQL(n int) string {
	return `WITH s(sink) AS (VALUES ` + strings.TrimSuffix(strings.Repeat("(?),", n), ",") + `)
		INSERT INTO deliveries (message_id, sink, state, next_at)
		SELECT m.id, s.sink, 0, m.created_at FROM messages m, s WHERE m.id BETWEEN ? AND ?`
}

// Item is one mention to enqueue.
type Item struct {
	Key       string    // Kick message id: unique; a repeat is a duplicate and changes nothing
	Channel   string    // channel slug; caps are per channel
	Payload   []byte    // the mention, encoded by the caller
	CreatedAt time.Time // enqueue time; zero means now
}

// EnqueueResult says what an enqueue did.
type EnqueueResult struct {
	Inserted   int
	Duplicates int
	// Dropped counts, per channel, the oldest undelivered rows this call
	// dropped to stay within the caps (they are kept as history, state
	// "dropped", and counted in the channel's persistent drop total).
	Dropped map[string]int
}

// DroppedTotal sums Dropped.
func (r EnqueueResult) DroppedTotal() int {
	n := 0
	for _, v := range r.Dropped {
		n += v
	}
	return n
}

// Enqueue stores one mention.
func (s *Store) Enqueue(ctx context.Context, it Item) (EnqueueResult, error) {
	return s.EnqueueBatch(ctx, []Item{it})
}

// EnqueueBatch stores items in one transaction (group commit), enforcing the
// caps in the same transaction. When it returns nil every item is durable (as
// durable as the synchronous setting makes it). Cap enforcement never fails
// or blocks an enqueue: it drops the oldest undelivered rows instead.
func (s *Store) EnqueueBatch(ctx context.Context, items []Item) (EnqueueResult, error) {
	res := EnqueueResult{}
	if len(items) == 0 {
		return res, nil
	}
	for i := range items {
		if items[i].Key == "" {
			return res, fmt.Errorf("enqueue: item %d has no key", i)
		}
		if items[i].Channel == "" {
			return res, fmt.Errorf("enqueue: item %d has no channel", i)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.refreshCountersLocked(ctx); err != nil {
		return res, fmt.Errorf("enqueue: %w", err)
	}
	now := s.now()
	// Counter changes are applied only after the commit succeeds.
	added := map[string]int{}
	var dropped map[string]int
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res = EnqueueResult{}
		clear(added)
		insMsg, err := s.stmt(ctx, tx, sqlInsertMessage)
		if err != nil {
			return err
		}
		defer insMsg.Close()
		pending := len(s.sinks)
		var first, last int64 // ids of this batch's new messages
		for i := range items {
			it := &items[i]
			created := it.CreatedAt
			if created.IsZero() {
				created = now
			}
			// Exec, not RETURNING: a query costs a rows object per row.
			r, err := insMsg.ExecContext(ctx, it.Key, it.Channel, it.Payload, ms(created), pending)
			if err != nil {
				return fmt.Errorf("insert message: %w", err)
			}
			if n, err := r.RowsAffected(); err != nil {
				return fmt.Errorf("insert message: %w", err)
			} else if n == 0 {
				res.Duplicates++
				continue
			}
			id, err := r.LastInsertId()
			if err != nil {
				return fmt.Errorf("insert message: %w", err)
			}
			if first == 0 {
				first = id
			}
			last = id
			res.Inserted++
			if pending > 0 {
				added[it.Channel]++
			}
		}
		if res.Inserted > 0 && pending > 0 {
			// New ids are max(id)+1 and this transaction holds the write
			// lock, so [first, last] holds exactly this batch's new rows; the
			// count check below would catch anything else.
			args := make([]any, 0, pending+2)
			for _, sink := range s.sinks {
				args = append(args, sink)
			}
			ins, err := s.stmt(ctx, tx, insertDeliveriesSQL(pending))
			if err != nil {
				return fmt.Errorf("insert deliveries: %w", err)
			}
			r, err := ins.ExecContext(ctx, append(args, first, last)...)
			if err != nil {
				return fmt.Errorf("insert deliveries: %w", err)
			}
			if n, err := r.RowsAffected(); err != nil || n != int64(res.Inserted*pending) {
				return fmt.Errorf("insert deliveries: %d rows for %d messages and %d sinks (%v)", n, res.Inserted, pending, err)
			}
		}
		dropped, err = s.enforceCapsTx(ctx, tx, added, now)
		return err
	})
	if err != nil {
		return EnqueueResult{}, fmt.Errorf("enqueue: %w", err)
	}
	for ch, n := range added {
		s.undelivered[ch] += n
		s.total += n
	}
	for ch, n := range dropped {
		s.undelivered[ch] -= n
		s.total -= n
		if s.undelivered[ch] <= 0 {
			delete(s.undelivered, ch)
		}
	}
	if len(dropped) > 0 {
		res.Dropped = dropped
	}
	// Our own commit changed data_version only for other connections; ours
	// stays valid.
	return res, nil
}

// enforceCapsTx drops the oldest undelivered rows of channels over their cap,
// then the oldest overall if the total is over its cap. It only looks when a
// counter is over its cap, so the common case costs nothing; when it drops,
// it drops a whole batch's victims with a few statements, not a few per row.
func (s *Store) enforceCapsTx(ctx context.Context, tx *sql.Tx, added map[string]int, now time.Time) (map[string]int, error) {
	var dropped map[string]int // nil until something is dropped: the common case allocates nothing
	add := func(ch string, n int) {
		if n > 0 {
			if dropped == nil {
				dropped = map[string]int{}
			}
			dropped[ch] += n
		}
	}
	if s.capPerChannel > 0 {
		for ch, n := range added {
			over := s.undelivered[ch] + n - s.capPerChannel
			if over <= 0 {
				continue
			}
			n, err := s.dropTx(ctx, tx, sqlDropChannelDeliveries, sqlDropChannelMessages, now, ch, over)
			if err != nil {
				return nil, fmt.Errorf("drop oldest of %s: %w", ch, err)
			}
			add(ch, n)
		}
	}
	if s.capTotal > 0 {
		total := s.total
		for _, n := range added {
			total += n
		}
		for _, n := range dropped {
			total -= n
		}
		if over := total - s.capTotal; over > 0 {
			// Which channels lose rows, before the rows stop being undelivered.
			per, sum, err := s.oldestChannelsTx(ctx, tx, over)
			if err != nil {
				return nil, fmt.Errorf("find oldest: %w", err)
			}
			n, err := s.dropTx(ctx, tx, sqlDropTotalDeliveries, sqlDropTotalMessages, now, over)
			if err != nil {
				return nil, fmt.Errorf("drop oldest: %w", err)
			}
			if n != sum {
				return nil, fmt.Errorf("drop oldest: dropped %d rows, counted %d", n, sum)
			}
			for ch, v := range per {
				add(ch, v)
			}
		}
	}
	if len(dropped) == 0 {
		return nil, nil
	}
	count, err := s.stmt(ctx, tx, sqlCountDropped)
	if err != nil {
		return nil, fmt.Errorf("count drops: %w", err)
	}
	for ch, n := range dropped {
		if _, err := count.ExecContext(ctx, ch, n); err != nil {
			return nil, fmt.Errorf("count drops: %w", err)
		}
	}
	return dropped, nil
}

// dropTx marks the undelivered messages that the two statements' victims
// query selects (with args) as dropped, with their pending deliveries, and
// returns how many messages it dropped. They stay as history.
func (s *Store) dropTx(ctx context.Context, tx *sql.Tx, deliveries, messages string, now time.Time, args ...any) (int, error) {
	d, err := s.stmt(ctx, tx, deliveries)
	if err != nil {
		return 0, err
	}
	if _, err := d.ExecContext(ctx, args...); err != nil {
		return 0, err
	}
	m, err := s.stmt(ctx, tx, messages)
	if err != nil {
		return 0, err
	}
	r, err := m.ExecContext(ctx, append([]any{ms(now)}, args...)...)
	if err != nil {
		return 0, err
	}
	n, err := r.RowsAffected()
	return int(n), err
}

// oldestChannelsTx counts, per channel, the n oldest undelivered messages,
// and returns their sum.
func (s *Store) oldestChannelsTx(ctx context.Context, tx *sql.Tx, n int) (map[string]int, int, error) {
	st, err := s.stmt(ctx, tx, sqlOldestTotalChannels)
	if err != nil {
		return nil, 0, err
	}
	rows, err := st.QueryContext(ctx, n)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	per, sum := map[string]int{}, 0
	for rows.Next() {
		var ch string
		var c int
		if err := rows.Scan(&ch, &c); err != nil {
			return nil, 0, err
		}
		per[ch] = c
		sum += c
	}
	return per, sum, rows.Err()
}
