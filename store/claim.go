package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"time"
)

const (
	// Rows whose backoff or lease has run out become ready again.
	sqlPromote = `UPDATE deliveries SET waiting = 0
		WHERE sink = ?1 AND state = 0 AND waiting != 0 AND next_at <= ?2`
	// Ready rows in creation order; both statements are index range scans.
	sqlClaim = `UPDATE deliveries SET waiting = 2, next_at = ?1
		WHERE sink = ?2 AND message_id IN (
			SELECT message_id FROM deliveries
			WHERE sink = ?2 AND state = 0 AND waiting = 0
			ORDER BY message_id LIMIT ?3)
		RETURNING message_id, attempts, last_error`
	sqlClaimMessage  = `SELECT key, channel, payload, created_at FROM messages WHERE id = ?`
	sqlSettleDeliver = `UPDATE deliveries SET state = 1, delivered_at = ?, remote_ref = ?, last_error = ''
		WHERE message_id = ? AND sink = ? AND state = 0`
	sqlSettleDead = `UPDATE deliveries SET state = 2, last_error = ?
		WHERE message_id = ? AND sink = ? AND state = 0`
	sqlSettleRetry = `UPDATE deliveries SET waiting = 1, next_at = ?, attempts = attempts + ?, last_error = ?
		WHERE message_id = ? AND sink = ? AND state = 0`
	sqlMessageDone = `UPDATE messages SET pending = pending - 1,
			done_at = CASE WHEN pending = 1 THEN ? ELSE done_at END
		WHERE id = ? RETURNING pending, channel`
	sqlNextReady   = `SELECT 1 FROM deliveries WHERE sink = ? AND state = 0 AND waiting = 0 LIMIT 1`
	sqlNextWaiting = `SELECT min(next_at) FROM deliveries WHERE sink = ? AND state = 0 AND waiting != 0`
)

// Claimed is a row leased to one sink.
type Claimed struct {
	ID        int64
	Key       string
	Channel   string
	Payload   []byte
	Attempts  int       // failed attempts so far at this sink
	CreatedAt time.Time // enqueue time; retry budgets count from it
	LastError string
}

// Verdict is what a sink made of a claimed row.
type Verdict int

// The verdicts.
const (
	Deliver Verdict = iota // delivered: the row is done for this sink
	Retry                  // due again at RetryAt
	Dead                   // dead-lettered for this sink, with Error
)

// Settlement is the verdict on one claimed row.
type Settlement struct {
	ID        int64
	Verdict   Verdict
	RemoteRef string    // Deliver: the peer's id for it (e.g. a Discord message id)
	RetryAt   time.Time // Retry: when it is due again
	Error     string    // Retry, Dead: why (stored truncated)
	Attempted bool      // Retry: counts as a failed attempt (not for rate limits or pauses)
}

// Claim leases up to limit due rows of sink, oldest first (creation order,
// whether or not a row was retried before). A leased row is due again once lease has passed, so a crash
// mid-delivery redelivers it after the lease.
func (s *Store) Claim(ctx context.Context, sink string, limit int, lease time.Duration) ([]Claimed, error) {
	return s.SettleAndClaim(ctx, sink, nil, limit, lease)
}

// Settle records verdicts for sink in one transaction. Ids that are unknown
// or no longer pending for sink are ignored.
func (s *Store) Settle(ctx context.Context, sink string, ss []Settlement) error {
	_, err := s.SettleAndClaim(ctx, sink, ss, 0, 0)
	return err
}

// SettleAndClaim settles ss and claims the next batch (limit > 0) in the same
// transaction: one commit per delivered batch.
func (s *Store) SettleAndClaim(ctx context.Context, sink string, ss []Settlement, limit int, lease time.Duration) ([]Claimed, error) {
	if len(ss) == 0 && limit <= 0 {
		return nil, nil
	}
	// Bookkeeping must not be torn by a cancel: finish it.
	ctx = context.WithoutCancel(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.refreshCountersLocked(ctx); err != nil {
		return nil, fmt.Errorf("settle: %w", err)
	}
	now := s.now()
	var done map[string]int
	var claimed []Claimed
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		if done, err = s.settleTx(ctx, tx, sink, ss, now); err != nil {
			return err
		}
		if limit > 0 {
			claimed, err = s.claimTx(ctx, tx, sink, limit, now, lease)
		}
		return err
	})
	if err != nil {
		if len(ss) > 0 {
			return nil, fmt.Errorf("settle %s: %w", sink, err)
		}
		return nil, fmt.Errorf("claim %s: %w", sink, err)
	}
	s.applyDoneLocked(done)
	return claimed, nil
}

func (s *Store) applyDoneLocked(done map[string]int) {
	for ch, n := range done {
		s.undelivered[ch] -= n
		s.total -= n
		if s.undelivered[ch] <= 0 {
			delete(s.undelivered, ch)
		}
	}
}

// settleTx applies ss and returns, per channel, how many rows left the queue.
func (s *Store) settleTx(ctx context.Context, tx *sql.Tx, sink string, ss []Settlement, now time.Time) (map[string]int, error) {
	if len(ss) == 0 {
		return nil, nil
	}
	var done map[string]int
	var del, dead, retry, msg *sql.Stmt
	prep := func(p **sql.Stmt, q string) (*sql.Stmt, error) {
		if *p == nil {
			st, err := s.stmt(ctx, tx, q)
			if err != nil {
				return nil, err
			}
			*p = st
		}
		return *p, nil
	}
	defer func() {
		for _, st := range []*sql.Stmt{del, dead, retry, msg} {
			if st != nil {
				st.Close()
			}
		}
	}()
	for _, st := range ss {
		var r sql.Result
		var err error
		switch st.Verdict {
		case Deliver:
			var p *sql.Stmt
			if p, err = prep(&del, sqlSettleDeliver); err == nil {
				r, err = p.ExecContext(ctx, ms(now), st.RemoteRef, st.ID, sink)
			}
		case Dead:
			var p *sql.Stmt
			if p, err = prep(&dead, sqlSettleDead); err == nil {
				r, err = p.ExecContext(ctx, truncate(st.Error), st.ID, sink)
			}
		case Retry:
			inc := 0
			if st.Attempted {
				inc = 1
			}
			at := st.RetryAt
			if at.IsZero() {
				at = now
			}
			var p *sql.Stmt
			if p, err = prep(&retry, sqlSettleRetry); err == nil {
				_, err = p.ExecContext(ctx, ms(at), inc, truncate(st.Error), st.ID, sink)
			}
			if err != nil {
				return nil, fmt.Errorf("reschedule %d: %w", st.ID, err)
			}
			continue
		default:
			return nil, fmt.Errorf("settle %d: unknown verdict %d", st.ID, st.Verdict)
		}
		if err != nil {
			return nil, fmt.Errorf("settle %d: %w", st.ID, err)
		}
		if n, _ := r.RowsAffected(); n == 0 {
			continue // not pending for this sink (already settled, dropped, unknown)
		}
		p, err := prep(&msg, sqlMessageDone)
		if err != nil {
			return nil, err
		}
		var pending int
		var ch string
		if err := p.QueryRowContext(ctx, ms(now), st.ID).Scan(&pending, &ch); err != nil {
			return nil, fmt.Errorf("count down %d: %w", st.ID, err)
		}
		if pending == 0 {
			if done == nil {
				done = map[string]int{}
			}
			done[ch]++
		}
	}
	return done, nil
}

func (s *Store) claimTx(ctx context.Context, tx *sql.Tx, sink string, limit int, now time.Time, lease time.Duration) ([]Claimed, error) {
	if lease <= 0 {
		lease = time.Minute
	}
	promote, err := s.stmt(ctx, tx, sqlPromote)
	if err != nil {
		return nil, err
	}
	if _, err := promote.ExecContext(ctx, sink, ms(now)); err != nil {
		return nil, err
	}
	claim, err := s.stmt(ctx, tx, sqlClaim)
	if err != nil {
		return nil, err
	}
	rows, err := claim.QueryContext(ctx, ms(now.Add(lease)), sink, limit)
	if err != nil {
		return nil, err
	}
	var out []Claimed
	for rows.Next() {
		var c Claimed
		if err := rows.Scan(&c.ID, &c.Attempts, &c.LastError); err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, nil
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	st, err := s.stmt(ctx, tx, sqlClaimMessage)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	for i := range out {
		var created int64
		err := st.QueryRowContext(ctx, out[i].ID).Scan(&out[i].Key, &out[i].Channel, &out[i].Payload, &created)
		if err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return nil, fmt.Errorf("delivery %d has no message", out[i].ID)
			}
			return nil, err
		}
		out[i].CreatedAt = fromMS(created)
	}
	return out, nil
}

// NextDue is the earliest due time among sink's pending rows (including
// leased rows' lease ends); ok is false when nothing is pending. Rows that are
// due already are reported as the zero Time, so no two clocks are compared.
func (s *Store) NextDue(ctx context.Context, sink string) (time.Time, bool, error) {
	var one int
	err := s.queryRow(ctx, sqlNextReady, sink).Scan(&one)
	if err == nil {
		return time.Time{}, true, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, false, fmt.Errorf("next due %s: %w", sink, classify(err))
	}
	var v sql.NullInt64
	if err := s.queryRow(ctx, sqlNextWaiting, sink).Scan(&v); err != nil {
		return time.Time{}, false, fmt.Errorf("next due %s: %w", sink, classify(err))
	}
	if !v.Valid {
		return time.Time{}, false, nil
	}
	return fromMS(v.Int64), true, nil
}
