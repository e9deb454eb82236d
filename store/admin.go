package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"kickwatch/breaker"
)

// State is a delivery's state at one sink.
type State int

// The delivery states, as stored.
const (
	StatePending   State = 0
	StateDelivered State = 1
	StateDead      State = 2
	StateDropped   State = 3 // dropped by the cap before delivery
)

func (s State) String() string {
	switch s {
	case StatePending:
		return "pending"
	case StateDelivered:
		return "delivered"
	case StateDead:
		return "dead"
	case StateDropped:
		return "dropped"
	}
	return "unknown"
}

// ParseState reads a state name.
func ParseState(name string) (State, error) {
	for _, st := range []State{StatePending, StateDelivered, StateDead, StateDropped} {
		if st.String() == name {
			return st, nil
		}
	}
	return 0, fmt.Errorf("unknown state %q (want pending, delivered, dead or dropped)", name)
}

// SinkStats counts one sink's deliveries by state.
type SinkStats struct {
	Sink      string
	Pending   int
	Due       int // pending and due now
	Delivered int
	Dead      int
	Dropped   int
}

// Stats is a summary of the store.
type Stats struct {
	Messages    int            // rows, history included
	Undelivered int            // rows some sink still has to deliver
	Sinks       []SinkStats    // per sink, by name
	Dropped     map[string]int // per channel, dropped by the cap, ever
}

// Stats summarises the store.
func (s *Store) Stats(ctx context.Context) (Stats, error) {
	st := Stats{Dropped: map[string]int{}}
	now := ms(s.now())
	err := s.withConn(ctx, func(c *sql.Conn) error {
		if err := c.QueryRowContext(ctx, `SELECT count(*) FROM messages`).Scan(&st.Messages); err != nil {
			return err
		}
		if err := c.QueryRowContext(ctx, `SELECT count(*) FROM messages WHERE pending > 0`).Scan(&st.Undelivered); err != nil {
			return err
		}
		rows, err := c.QueryContext(ctx, `SELECT sink, state, count(*), sum(state = 0 AND (waiting = 0 OR next_at <= ?))
			FROM deliveries GROUP BY sink, state ORDER BY sink`, now)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var sink string
			var state State
			var n, due int
			if err := rows.Scan(&sink, &state, &n, &due); err != nil {
				return err
			}
			if len(st.Sinks) == 0 || st.Sinks[len(st.Sinks)-1].Sink != sink {
				st.Sinks = append(st.Sinks, SinkStats{Sink: sink})
			}
			ss := &st.Sinks[len(st.Sinks)-1]
			switch state {
			case StatePending:
				ss.Pending, ss.Due = n, due
			case StateDelivered:
				ss.Delivered = n
			case StateDead:
				ss.Dead = n
			case StateDropped:
				ss.Dropped = n
			}
		}
		if err := rows.Err(); err != nil {
			return err
		}
		rows.Close()
		drows, err := c.QueryContext(ctx, `SELECT channel, dropped FROM channel_stats`)
		if err != nil {
			return err
		}
		defer drows.Close()
		for drows.Next() {
			var ch string
			var n int
			if err := drows.Scan(&ch, &n); err != nil {
				return err
			}
			st.Dropped[ch] = n
		}
		return drows.Err()
	})
	if err != nil {
		return Stats{}, fmt.Errorf("stats: %w", classify(err))
	}
	return st, nil
}

// Depth is the number of pending deliveries of sink (for metrics).
func (s *Store) Depth(ctx context.Context, sink string) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM deliveries WHERE sink = ? AND state = 0`, sink).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("depth %s: %w", sink, classify(err))
	}
	return n, nil
}

// Entry is one row at one sink, for listings.
type Entry struct {
	ID          int64
	Key         string
	Channel     string
	Payload     []byte
	CreatedAt   time.Time
	Sink        string
	State       State
	Attempts    int
	NextAt      time.Time
	LastError   string
	DeliveredAt time.Time
	RemoteRef   string
}

// Filter selects entries.
type Filter struct {
	Sink   string    // "" for every sink
	States []State   // empty for every state
	Since  time.Time // created at or after; zero for all
	Limit  int       // 0 for 100
}

// List returns entries matching f, newest first.
func (s *Store) List(ctx context.Context, f Filter) ([]Entry, error) {
	var where []string
	var args []any
	if f.Sink != "" {
		where = append(where, "d.sink = ?")
		args = append(args, f.Sink)
	}
	if len(f.States) > 0 {
		ph := strings.TrimSuffix(strings.Repeat("?,", len(f.States)), ",")
		where = append(where, "d.state IN ("+ph+")")
		for _, st := range f.States {
			args = append(args, int(st))
		}
	}
	if !f.Since.IsZero() {
		where = append(where, "m.created_at >= ?")
		args = append(args, ms(f.Since))
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	q := `SELECT m.id, m.key, m.channel, m.payload, m.created_at, d.sink, d.state, d.attempts, d.next_at,
			d.last_error, coalesce(d.delivered_at, 0), d.remote_ref
		FROM deliveries d JOIN messages m ON m.id = d.message_id`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY m.id DESC, d.sink LIMIT ?"
	args = append(args, limit)
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list: %w", classify(err))
	}
	defer rows.Close()
	var out []Entry
	for rows.Next() {
		var e Entry
		var created, next, delivered int64
		if err := rows.Scan(&e.ID, &e.Key, &e.Channel, &e.Payload, &created, &e.Sink, &e.State, &e.Attempts,
			&next, &e.LastError, &delivered, &e.RemoteRef); err != nil {
			return nil, fmt.Errorf("list: %w", classify(err))
		}
		e.CreatedAt, e.NextAt = fromMS(created), fromMS(next)
		if delivered != 0 {
			e.DeliveredAt = fromMS(delivered)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list: %w", classify(err))
	}
	return out, nil
}

// History returns mentions created at or after since, newest first, with
// their payloads (whatever their delivery state).
func (s *Store) History(ctx context.Context, since time.Time, limit int) ([]Entry, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := s.db.QueryContext(ctx, `SELECT id, key, channel, payload, created_at FROM messages
		WHERE created_at >= ? ORDER BY id DESC LIMIT ?`, ms(since), limit)
	if err != nil {
		return nil, fmt.Errorf("history: %w", classify(err))
	}
	defer rows.Close()
	var out []Entry
	for rows.Next() {
		var e Entry
		var created int64
		if err := rows.Scan(&e.ID, &e.Key, &e.Channel, &e.Payload, &created); err != nil {
			return nil, fmt.Errorf("history: %w", classify(err))
		}
		e.CreatedAt = fromMS(created)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("history: %w", classify(err))
	}
	return out, nil
}

// Requeue makes dead (and, with dropped, cap-dropped) deliveries of sink (""
// for all sinks) pending and due now, with their attempts reset. It returns
// how many deliveries it requeued. Only sinks that are enabled are requeued.
func (s *Store) Requeue(ctx context.Context, sink string, dropped bool) (int, error) {
	states := "2"
	if dropped {
		states = "2, 3"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := ms(s.now())
	n := 0
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		n = 0
		for _, sk := range s.sinks {
			if sink != "" && sk != sink {
				continue
			}
			rows, err := tx.QueryContext(ctx, `UPDATE deliveries SET state = 0, attempts = 0, waiting = 0, next_at = ?
				WHERE sink = ? AND state IN (`+states+`) RETURNING message_id`, now, sk)
			if err != nil {
				return err
			}
			var ids []int64
			for rows.Next() {
				var id int64
				if err := rows.Scan(&id); err != nil {
					rows.Close()
					return err
				}
				ids = append(ids, id)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			for _, id := range ids {
				if _, err := tx.ExecContext(ctx, `UPDATE messages SET pending = pending + 1, done_at = NULL WHERE id = ?`, id); err != nil {
					return err
				}
			}
			n += len(ids)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("requeue: %w", err)
	}
	return n, s.loadCountersLocked(ctx)
}

// Purge deletes messages that no sink has pending and at least one sink
// dead-lettered (or, with dropped, had dropped by the cap). It returns how
// many messages it deleted.
func (s *Store) Purge(ctx context.Context, dropped bool) (int, error) {
	states := "2"
	if dropped {
		states = "2, 3"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		r, err := tx.ExecContext(ctx, `DELETE FROM messages WHERE pending = 0 AND id IN
			(SELECT message_id FROM deliveries WHERE state IN (`+states+`))`)
		if err != nil {
			return err
		}
		n, err = r.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("purge: %w", err)
	}
	return int(n), nil
}

// Prune deletes history: messages every sink is done with whose last delivery
// ended before before. It works in small transactions so ingest is not held
// up, and returns how many messages it deleted.
func (s *Store) Prune(ctx context.Context, before time.Time) (int, error) {
	total := 0
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		s.mu.Lock()
		var n int64
		err := s.inTx(ctx, func(tx *sql.Tx) error {
			r, err := tx.ExecContext(ctx, `DELETE FROM messages WHERE id IN
				(SELECT id FROM messages WHERE pending = 0 AND done_at < ? LIMIT 500)`, ms(before))
			if err != nil {
				return err
			}
			n, err = r.RowsAffected()
			return err
		})
		s.mu.Unlock()
		if err != nil {
			return total, fmt.Errorf("prune: %w", err)
		}
		total += int(n)
		if n < 500 {
			return total, nil
		}
	}
}

// Writable checks that a write transaction can commit (for readiness).
func (s *Store) Writable(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE schema_version SET version = version`)
		return err
	})
	if err != nil {
		return fmt.Errorf("store writable: %w", err)
	}
	return nil
}

// LoadBreaker reads the last saved snapshot of the breaker name.
func (s *Store) LoadBreaker(ctx context.Context, name string) (breaker.Snapshot, bool, error) {
	var snap breaker.Snapshot
	var state, opened, updated int64
	err := s.db.QueryRowContext(ctx, `SELECT state, failures, opened_at, probes, updated_at FROM breakers WHERE name = ?`,
		name).Scan(&state, &snap.Failures, &opened, &snap.Probes, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return breaker.Snapshot{}, false, nil
	}
	if err != nil {
		return breaker.Snapshot{}, false, fmt.Errorf("load breaker %s: %w", name, classify(err))
	}
	snap.Name = name
	snap.State = breaker.State(state)
	if opened != 0 {
		snap.OpenedAt = fromMS(opened)
	}
	snap.UpdatedAt = fromMS(updated)
	return snap, true, nil
}

// SaveBreaker stores a breaker snapshot (on every state transition).
func (s *Store) SaveBreaker(ctx context.Context, snap breaker.Snapshot) error {
	var opened int64
	if !snap.OpenedAt.IsZero() {
		opened = ms(snap.OpenedAt)
	}
	updated := snap.UpdatedAt
	if updated.IsZero() {
		updated = s.now()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.inTx(context.WithoutCancel(ctx), func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO breakers (name, state, failures, opened_at, probes, updated_at)
			VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET state = excluded.state,
			failures = excluded.failures, opened_at = excluded.opened_at, probes = excluded.probes,
			updated_at = excluded.updated_at`, snap.Name, int(snap.State), snap.Failures, opened, snap.Probes, ms(updated))
		return err
	})
	if err != nil {
		return fmt.Errorf("save breaker %s: %w", snap.Name, err)
	}
	return nil
}

// Breakers lists every saved breaker snapshot.
func (s *Store) Breakers(ctx context.Context) ([]breaker.Snapshot, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name, state, failures, opened_at, probes, updated_at FROM breakers ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list breakers: %w", classify(err))
	}
	defer rows.Close()
	var out []breaker.Snapshot
	for rows.Next() {
		var snap breaker.Snapshot
		var state, opened, updated int64
		if err := rows.Scan(&snap.Name, &state, &snap.Failures, &opened, &snap.Probes, &updated); err != nil {
			return nil, fmt.Errorf("list breakers: %w", classify(err))
		}
		snap.State = breaker.State(state)
		if opened != 0 {
			snap.OpenedAt = fromMS(opened)
		}
		snap.UpdatedAt = fromMS(updated)
		out = append(out, snap)
	}
	return out, rows.Err()
}

// ChannelIDs are a channel's resolved ids.
type ChannelIDs struct {
	Slug       string
	ChatroomID int64
	ChannelID  int64
	ResolvedAt time.Time
}

// SaveChannel caches a slug's resolved ids.
func (s *Store) SaveChannel(ctx context.Context, c ChannelIDs) error {
	if c.ResolvedAt.IsZero() {
		c.ResolvedAt = s.now()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO channels (slug, chatroom_id, channel_id, resolved_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (slug) DO UPDATE SET chatroom_id = excluded.chatroom_id,
			channel_id = CASE WHEN excluded.channel_id != 0 THEN excluded.channel_id ELSE channel_id END,
			resolved_at = excluded.resolved_at`, strings.ToLower(c.Slug), c.ChatroomID, c.ChannelID, ms(c.ResolvedAt))
		return err
	})
	if err != nil {
		return fmt.Errorf("save channel %s: %w", c.Slug, err)
	}
	return nil
}

// Channel returns a slug's cached ids.
func (s *Store) Channel(ctx context.Context, slug string) (ChannelIDs, bool, error) {
	c := ChannelIDs{Slug: strings.ToLower(slug)}
	var resolved int64
	err := s.db.QueryRowContext(ctx, `SELECT chatroom_id, channel_id, resolved_at FROM channels WHERE slug = ?`,
		c.Slug).Scan(&c.ChatroomID, &c.ChannelID, &resolved)
	if errors.Is(err, sql.ErrNoRows) {
		return ChannelIDs{}, false, nil
	}
	if err != nil {
		return ChannelIDs{}, false, fmt.Errorf("load channel %s: %w", slug, classify(err))
	}
	c.ResolvedAt = fromMS(resolved)
	return c, true, nil
}
