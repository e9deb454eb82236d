package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

const (
	sqlInsertMessage = `INSERT INTO messages (key, channel, payload, created_at, pending)
		VALUES (?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING RETURNING id`
	sqlInsertDelivery = `INSERT INTO deliveries (message_id, sink, state, next_at) VALUES (?, ?, 0, ?)`
	sqlOldestChannel  = `SELECT id FROM messages WHERE channel = ? AND pending > 0 ORDER BY id LIMIT ?`
	sqlOldestTotal    = `SELECT id, channel FROM messages WHERE pending > 0 ORDER BY id LIMIT ?`
	sqlDropDeliveries = `UPDATE deliveries SET state = 3, last_error = 'dropped: outbox cap reached'
		WHERE message_id = ? AND state = 0`
	sqlDropMessage  = `UPDATE messages SET pending = 0, done_at = ? WHERE id = ?`
	sqlCountDropped = `INSERT INTO channel_stats (channel, dropped) VALUES (?, ?)
		ON CONFLICT (channel) DO UPDATE SET dropped = dropped + excluded.dropped`
)

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
		insMsg, err := tx.PrepareContext(ctx, sqlInsertMessage)
		if err != nil {
			return err
		}
		defer insMsg.Close()
		insDel, err := tx.PrepareContext(ctx, sqlInsertDelivery)
		if err != nil {
			return err
		}
		defer insDel.Close()
		pending := len(s.sinks)
		for i := range items {
			it := &items[i]
			created := it.CreatedAt
			if created.IsZero() {
				created = now
			}
			var id int64
			err := insMsg.QueryRowContext(ctx, it.Key, it.Channel, it.Payload, ms(created), pending).Scan(&id)
			if errors.Is(err, sql.ErrNoRows) {
				res.Duplicates++
				continue
			}
			if err != nil {
				return fmt.Errorf("insert message: %w", err)
			}
			for _, sink := range s.sinks {
				if _, err := insDel.ExecContext(ctx, id, sink, ms(created)); err != nil {
					return fmt.Errorf("insert delivery: %w", err)
				}
			}
			res.Inserted++
			if pending > 0 {
				added[it.Channel]++
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
// counter is over its cap, so the common case costs nothing.
func (s *Store) enforceCapsTx(ctx context.Context, tx *sql.Tx, added map[string]int, now time.Time) (map[string]int, error) {
	var dropped map[string]int
	drop := func(id int64, ch string) error {
		r, err := tx.ExecContext(ctx, sqlDropDeliveries, id)
		if err != nil {
			return fmt.Errorf("drop deliveries: %w", err)
		}
		if n, _ := r.RowsAffected(); n == 0 {
			return nil
		}
		if _, err := tx.ExecContext(ctx, sqlDropMessage, ms(now), id); err != nil {
			return fmt.Errorf("drop message: %w", err)
		}
		if dropped == nil {
			dropped = map[string]int{}
		}
		dropped[ch]++
		return nil
	}
	if s.capPerChannel > 0 {
		for ch, n := range added {
			over := s.undelivered[ch] + n - s.capPerChannel
			if over <= 0 {
				continue
			}
			ids, err := queryIDs(ctx, tx, sqlOldestChannel, ch, over)
			if err != nil {
				return nil, fmt.Errorf("find oldest of %s: %w", ch, err)
			}
			for _, id := range ids {
				if err := drop(id, ch); err != nil {
					return nil, err
				}
			}
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
			rows, err := tx.QueryContext(ctx, sqlOldestTotal, over)
			if err != nil {
				return nil, fmt.Errorf("find oldest: %w", err)
			}
			type victim struct {
				id int64
				ch string
			}
			var vs []victim
			for rows.Next() {
				var v victim
				if err := rows.Scan(&v.id, &v.ch); err != nil {
					rows.Close()
					return nil, err
				}
				vs = append(vs, v)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return nil, err
			}
			for _, v := range vs {
				if err := drop(v.id, v.ch); err != nil {
					return nil, err
				}
			}
		}
	}
	for ch, n := range dropped {
		if _, err := tx.ExecContext(ctx, sqlCountDropped, ch, n); err != nil {
			return nil, fmt.Errorf("count drops: %w", err)
		}
	}
	return dropped, nil
}

func queryIDs(ctx context.Context, tx *sql.Tx, q string, args ...any) ([]int64, error) {
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}
