package main

import (
	"context"
	"database/sql"
	"fmt"

	_ "modernc.org/sqlite" // the driver kickwatch itself uses
)

// outboxReader reads the daemon's outbox depth through its own read-only
// connection. In WAL mode a reader never blocks the daemon's writer; each
// count is an index-only scan of one of the store's partial indexes
// (deliveries_ready, deliveries_waiting). store.Stats would give the same
// pending counts, but it opens the store as a writer and groups every
// delivery row, history included, which every second would load the machine
// under measurement.
type outboxReader struct {
	db    *sql.DB
	sinks []string
}

func openOutbox(path string, sinks []string) (*outboxReader, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(2000)")
	if err != nil {
		return nil, fmt.Errorf("open outbox %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	return &outboxReader{db: db, sinks: sinks}, nil
}

func (o *outboxReader) Close() error { return o.db.Close() }

// depth is the outbox at one moment.
type depth struct {
	Undelivered int            // messages some sink still has to deliver
	Pending     map[string]int // per sink: ready + waiting (backoff or leased)
}

func (o *outboxReader) depth(ctx context.Context) (depth, error) {
	d := depth{Pending: map[string]int{}}
	if err := o.db.QueryRowContext(ctx, `SELECT count(*) FROM messages WHERE pending > 0`).Scan(&d.Undelivered); err != nil {
		return d, fmt.Errorf("read outbox depth: %w", err)
	}
	for _, s := range o.sinks {
		var ready, waiting int
		if err := o.db.QueryRowContext(ctx, `SELECT count(*) FROM deliveries WHERE sink = ? AND state = 0 AND waiting = 0`, s).Scan(&ready); err != nil {
			return d, fmt.Errorf("read outbox depth: %w", err)
		}
		if err := o.db.QueryRowContext(ctx, `SELECT count(*) FROM deliveries WHERE sink = ? AND state = 0 AND waiting != 0`, s).Scan(&waiting); err != nil {
			return d, fmt.Errorf("read outbox depth: %w", err)
		}
		d.Pending[s] = ready + waiting
	}
	return d, nil
}

// dropped is how many rows the caps have dropped, ever.
func (o *outboxReader) dropped(ctx context.Context) (int, error) {
	var n sql.NullInt64
	if err := o.db.QueryRowContext(ctx, `SELECT sum(dropped) FROM channel_stats`).Scan(&n); err != nil {
		return 0, fmt.Errorf("read dropped: %w", err)
	}
	return int(n.Int64), nil
}
