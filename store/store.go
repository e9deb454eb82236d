// Package store is kickwatch's SQLite adapter: a capped, persistent outbox of
// mentions with per-sink delivery state, the history of delivered mentions,
// circuit-breaker snapshots and the slug → chatroom id cache.
//
// It knows rows, sinks by name, payload bytes and due times — nothing about
// Kick or Discord. One writer connection serves everything: SQLite has one
// writer, and a pool of writers only buys SQLITE_BUSY.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Defaults, each with its reason.
const (
	// DefaultCapPerChannel is the seed's deque(maxlen=500) per channel.
	DefaultCapPerChannel = 500
	// DefaultCapTotal bounds the disk a long outage can use (~50k small rows).
	DefaultCapTotal = 50000
	// DefaultBusyTimeout covers CLI commands writing beside the daemon.
	DefaultBusyTimeout = 5 * time.Second
	// maxErrorLen bounds stored error texts (peers' bodies can be large).
	maxErrorLen = 1024
)

// Errors callers branch on. Each wraps the SQLite error that caused it.
var (
	// ErrFull: the disk (or the database's page limit) is full. Nothing of the
	// failed call was written; it works again once space returns.
	ErrFull = errors.New("store: disk full")
	// ErrReadOnly: the database file or its directory is not writable.
	ErrReadOnly = errors.New("store: read-only")
	// ErrNotDatabase: the file is not a SQLite database, or it is corrupt.
	ErrNotDatabase = errors.New("store: not a kickwatch database (not SQLite, or corrupt)")
)

//go:embed migrations/*.sql
var migrations embed.FS

// Options tune a Store. The zero value of each field means its default.
type Options struct {
	// Synchronous is "full" (default: an acknowledged mention survives power
	// loss) or "normal" (survives process crashes; faster).
	Synchronous string
	// CapPerChannel and CapTotal bound undelivered rows. On overflow the oldest
	// undelivered rows are dropped, counted per channel. Negative disables.
	CapPerChannel int
	CapTotal      int
	// Sinks are the enabled sinks: each new row gets a delivery for each, and
	// pending deliveries of other sinks are dead-lettered ("sink disabled").
	// Nil leaves the stored delivery state alone and takes the sinks found in
	// the database (for commands that run beside the daemon).
	Sinks []string
	// KeepOtherSinks, with Sinks set, leaves other sinks' pending deliveries
	// pending instead of dead-lettering them.
	KeepOtherSinks bool
	// BusyTimeout is how long a write waits for another process's lock.
	BusyTimeout time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Store is the outbox. All methods are safe for concurrent use.
type Store struct {
	db    *sql.DB
	path  string
	now   func() time.Time
	stmts map[string]*sql.Stmt // the hot statements, prepared once at Open; read-only

	mu            sync.Mutex // guards the fields below and serialises writes
	sinks         []string
	capPerChannel int
	capTotal      int
	undelivered   map[string]int // per channel, mirrors messages.pending > 0
	total         int
	dataVersion   int64 // PRAGMA data_version when the counters were loaded
	released      int   // leases of an earlier process released at Open
}

// Open opens (creating if needed) the database at path and migrates it.
func Open(ctx context.Context, path string, o Options) (*Store, error) {
	if path == "" {
		return nil, errors.New("open store: empty path")
	}
	if strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("open store %q: the path may not contain '?' or '#'", path)
	}
	if err := checkDir(path); err != nil {
		return nil, err
	}
	sync := strings.ToUpper(o.Synchronous)
	switch sync {
	case "":
		sync = "FULL"
	case "FULL", "NORMAL":
	default:
		return nil, fmt.Errorf("open store: synchronous %q: want \"full\" or \"normal\"", o.Synchronous)
	}
	busy := o.BusyTimeout
	if busy <= 0 {
		busy = DefaultBusyTimeout
	}
	// busy_timeout first: the connection must block on busy before WAL is set.
	dsn := fmt.Sprintf("%s?_pragma=busy_timeout(%d)&_pragma=journal_mode(WAL)&_pragma=synchronous(%s)"+
		"&_pragma=foreign_keys(1)&_pragma=temp_store(memory)&_pragma=cache_size(-1024)&_txlock=immediate", path, busy.Milliseconds(), sync)
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)

	s := &Store{db: db, path: path, now: o.Now}
	if s.now == nil {
		s.now = time.Now
	}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	sinks, keep := o.Sinks, o.KeepOtherSinks
	if sinks == nil {
		if sinks, err = s.storedSinks(ctx); err != nil {
			db.Close()
			return nil, fmt.Errorf("open store %s: %w", path, err)
		}
		keep = true
	}
	if err := s.setSinks(ctx, sinks, keep); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	if o.Sinks != nil {
		// The daemon owns the leases: those a killed process left behind are
		// due now, not when they run out.
		res, err := s.db.ExecContext(ctx, `UPDATE deliveries SET waiting = 0 WHERE state = 0 AND waiting = 2`)
		if err != nil {
			db.Close()
			return nil, fmt.Errorf("open store %s: release old leases: %w", path, classify(err))
		}
		n, _ := res.RowsAffected()
		s.released = int(n)
	}
	if err := s.prepareHot(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	s.SetCaps(o.CapPerChannel, o.CapTotal)
	return s, nil
}

// hotQueries run for every batch (the drops, for every batch at the cap).
// modernc.org/sqlite has no statement cache:
// a query passed as a string is parsed on every call, which cost a quarter of
// the daemon's CPU under load (BENCHMARKS.md).
var hotQueries = []string{
	sqlInsertMessage, insertDeliveriesSQL(1), insertDeliveriesSQL(2), insertDeliveriesSQL(3),
	sqlPromote, sqlClaim, sqlClaimMessage, sqlSettleDeliver, sqlSettleDead, sqlSettleRetry, sqlMessageDone,
	sqlNextReady, sqlNextWaiting, sqlCountDropped,
	sqlDropChannelDeliveries, sqlDropChannelMessages, sqlDropTotalDeliveries, sqlDropTotalMessages, sqlOldestTotalChannels,
}

// prepareHot prepares hotQueries on the store's one connection. It must run
// before any transaction: with one connection, preparing on the pool while
// a transaction holds it would wait forever.
func (s *Store) prepareHot(ctx context.Context) error {
	s.stmts = make(map[string]*sql.Stmt, len(hotQueries))
	for _, q := range hotQueries {
		st, err := s.db.PrepareContext(ctx, q)
		if err != nil {
			s.closeHot()
			return fmt.Errorf("prepare: %w", classify(err))
		}
		s.stmts[q] = st
	}
	return nil
}

func (s *Store) closeHot() {
	for _, st := range s.stmts {
		st.Close()
	}
}

// stmt returns q for use in tx: the statement prepared at Open when q is a
// hot one (no parsing), otherwise prepared now. Either closes with tx.
func (s *Store) stmt(ctx context.Context, tx *sql.Tx, q string) (*sql.Stmt, error) {
	if st := s.stmts[q]; st != nil {
		return tx.StmtContext(ctx, st), nil
	}
	return tx.PrepareContext(ctx, q)
}

// queryRow runs q outside a transaction, prepared at Open when it is hot.
func (s *Store) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	if st := s.stmts[q]; st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return s.db.QueryRowContext(ctx, q, args...)
}

// checkDir gives a clear error for a missing or unwritable directory before
// SQLite gives an opaque one.
func checkDir(path string) error {
	dir := filepath.Dir(path)
	st, err := os.Stat(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("open store %s: directory %s does not exist: create it or set store.path", path, dir)
		}
		return fmt.Errorf("open store %s: %w", path, err)
	}
	if !st.IsDir() {
		return fmt.Errorf("open store %s: %s is not a directory", path, dir)
	}
	return nil
}

// Close closes the database.
func (s *Store) Close() error {
	s.closeHot()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close store: %w", classify(err))
	}
	return nil
}

// ReleasedLeases is how many deliveries an earlier process had claimed and
// not settled (it was killed mid-delivery); Open with Sinks set made them
// due at once. They may reach their sink a second time.
func (s *Store) ReleasedLeases() int { return s.released }

// Path is the database file.
func (s *Store) Path() string { return s.path }

// SetCaps changes the caps (config reload). Zero means the default, negative
// disables a cap. The new caps apply from the next enqueue.
func (s *Store) SetCaps(perChannel, total int) {
	if perChannel == 0 {
		perChannel = DefaultCapPerChannel
	}
	if total == 0 {
		total = DefaultCapTotal
	}
	s.mu.Lock()
	s.capPerChannel, s.capTotal = perChannel, total
	s.mu.Unlock()
}

// SetSinks sets the enabled sinks. New rows get a delivery for each; a sink
// enabled later does not resend history. Pending deliveries of a sink that is
// no longer enabled are dead-lettered ("sink disabled"), so they stop holding
// their rows in the queue and `outbox retry` can bring them back.
func (s *Store) SetSinks(ctx context.Context, sinks []string) error {
	return s.setSinks(ctx, sinks, false)
}

func (s *Store) storedSinks(ctx context.Context) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT DISTINCT sink FROM deliveries`)
	if err != nil {
		return nil, classify(err)
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, classify(err)
		}
		out = append(out, n)
	}
	return out, classify(rows.Err())
}

func (s *Store) setSinks(ctx context.Context, sinks []string, keepOthers bool) error {
	sinks = slices.Clone(sinks)
	sort.Strings(sinks)
	sinks = slices.Compact(sinks)
	for _, n := range sinks {
		if n == "" {
			return errors.New("set sinks: empty sink name")
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if keepOthers {
		s.sinks = sinks
		return s.loadCountersLocked(ctx)
	}
	now := s.now()
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT DISTINCT sink FROM deliveries WHERE state = 0`)
		if err != nil {
			return err
		}
		var stale []string
		for rows.Next() {
			var n string
			if err := rows.Scan(&n); err != nil {
				rows.Close()
				return err
			}
			if !slices.Contains(sinks, n) {
				stale = append(stale, n)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, n := range stale {
			if err := s.settleAll(ctx, tx, n, Dead, "sink disabled in config", now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("set sinks: %w", err)
	}
	s.sinks = sinks
	return s.loadCountersLocked(ctx)
}

// Sinks returns the enabled sinks.
func (s *Store) Sinks() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.sinks)
}

// settleAll ends every pending delivery of sink with state.
func (s *Store) settleAll(ctx context.Context, tx *sql.Tx, sink string, st Verdict, reason string, now time.Time) error {
	rows, err := tx.QueryContext(ctx, `SELECT message_id FROM deliveries WHERE sink = ? AND state = 0`, sink)
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
	ss := make([]Settlement, len(ids))
	for i, id := range ids {
		ss[i] = Settlement{ID: id, Verdict: st, Error: reason}
	}
	_, err = s.settleTx(ctx, tx, sink, ss, now)
	return err
}

// loadCountersLocked reads the undelivered counts per channel.
func (s *Store) loadCountersLocked(ctx context.Context) error {
	m := map[string]int{}
	total := 0
	var version int64
	err := s.withConn(ctx, func(c *sql.Conn) error {
		if err := c.QueryRowContext(ctx, `PRAGMA data_version`).Scan(&version); err != nil {
			return err
		}
		rows, err := c.QueryContext(ctx, `SELECT channel, count(*) FROM messages WHERE pending > 0 GROUP BY channel`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var ch string
			var n int
			if err := rows.Scan(&ch, &n); err != nil {
				return err
			}
			m[ch] = n
			total += n
		}
		return rows.Err()
	})
	if err != nil {
		return fmt.Errorf("load counters: %w", classify(err))
	}
	s.undelivered, s.total, s.dataVersion = m, total, version
	return nil
}

// refreshCountersLocked reloads the counters when another process (a CLI
// command) has written to the database since they were loaded.
func (s *Store) refreshCountersLocked(ctx context.Context) error {
	var version int64
	if err := s.db.QueryRowContext(ctx, `PRAGMA data_version`).Scan(&version); err != nil {
		return fmt.Errorf("read data_version: %w", classify(err))
	}
	if version == s.dataVersion {
		return nil
	}
	return s.loadCountersLocked(ctx)
}

func (s *Store) withConn(ctx context.Context, fn func(*sql.Conn) error) error {
	c, err := s.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	return fn(c)
}

// inTx runs fn in an IMMEDIATE transaction (the DSN's _txlock), committing if
// it returns nil. A cancelled ctx does not tear a transaction in half: the
// commit or rollback runs regardless.
func (s *Store) inTx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return classify(err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return classify(err)
	}
	if err := tx.Commit(); err != nil {
		_ = tx.Rollback()
		return classify(err)
	}
	return nil
}

// classify wraps SQLite errors callers branch on with the package sentinels.
func classify(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, ErrFull) || errors.Is(err, ErrReadOnly) || errors.Is(err, ErrNotDatabase) {
		return err
	}
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return err
	}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_FULL:
		return fmt.Errorf("%w: %w", ErrFull, err)
	case sqlite3.SQLITE_READONLY:
		return fmt.Errorf("%w: %w", ErrReadOnly, err)
	case sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT:
		return fmt.Errorf("%w: %w", ErrNotDatabase, err)
	case sqlite3.SQLITE_CANTOPEN:
		return fmt.Errorf("%w: cannot open the database file (check the path and its permissions): %w", ErrReadOnly, err)
	}
	return err
}

func (s *Store) migrate(ctx context.Context) error {
	var version int
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL) STRICT`); err != nil {
			return err
		}
		err := tx.QueryRowContext(ctx, `SELECT version FROM schema_version`).Scan(&version)
		if errors.Is(err, sql.ErrNoRows) {
			_, err = tx.ExecContext(ctx, `INSERT INTO schema_version (version) VALUES (0)`)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	if version > len(names) {
		return fmt.Errorf("database schema version %d is newer than this kickwatch knows (%d): upgrade kickwatch", version, len(names))
	}
	for i := version; i < len(names); i++ {
		n, err := strconv.Atoi(strings.SplitN(filepath.Base(names[i]), "_", 2)[0])
		if err != nil || n != i+1 {
			return fmt.Errorf("migration %s: not numbered %04d", names[i], i+1)
		}
		body, err := migrations.ReadFile(names[i])
		if err != nil {
			return err
		}
		err = s.inTx(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, string(body)); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `UPDATE schema_version SET version = ?`, i+1)
			return err
		})
		if err != nil {
			return fmt.Errorf("migration %s: %w", names[i], err)
		}
	}
	return nil
}

// ms is the stored form of a time: unix milliseconds, UTC.
func ms(t time.Time) int64 { return t.UnixMilli() }

func fromMS(v int64) time.Time { return time.UnixMilli(v).UTC() }

func truncate(s string) string {
	if len(s) <= maxErrorLen {
		return s
	}
	// Cut on a rune boundary.
	cut := maxErrorLen
	for cut > 0 && (s[cut]&0xC0) == 0x80 {
		cut--
	}
	return s[:cut] + "…"
}
