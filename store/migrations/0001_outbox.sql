-- Mentions accepted by kickwatch. A row stays here while any sink still has to
-- deliver it (pending > 0) and afterwards as history until it is pruned.
CREATE TABLE messages (
	id         INTEGER PRIMARY KEY,
	key        TEXT    NOT NULL UNIQUE,  -- Kick message id: enqueue is idempotent on it
	channel    TEXT    NOT NULL,
	payload    BLOB    NOT NULL,
	created_at INTEGER NOT NULL,         -- unix milliseconds, UTC
	pending    INTEGER NOT NULL,         -- deliveries still pending
	done_at    INTEGER                   -- when pending reached 0
) STRICT;
-- Undelivered rows, oldest first: cap enforcement walks these.
CREATE INDEX messages_undelivered_channel ON messages(channel, id) WHERE pending > 0;
CREATE INDEX messages_undelivered ON messages(id) WHERE pending > 0;
-- History pruning.
CREATE INDEX messages_done ON messages(done_at) WHERE pending = 0;

-- Per-sink delivery state of each message.
CREATE TABLE deliveries (
	message_id   INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
	sink         TEXT    NOT NULL,
	state        INTEGER NOT NULL,            -- 0 pending, 1 delivered, 2 dead, 3 dropped by the cap
	attempts     INTEGER NOT NULL DEFAULT 0,  -- failed attempts
	waiting      INTEGER NOT NULL DEFAULT 0,  -- 1 while in backoff or leased, until next_at
	next_at      INTEGER NOT NULL,            -- due time (or lease end while claimed), unix ms
	last_error   TEXT    NOT NULL DEFAULT '',
	delivered_at INTEGER,
	remote_ref   TEXT    NOT NULL DEFAULT '',
	PRIMARY KEY (message_id, sink)
) STRICT, WITHOUT ROWID;
-- Claim takes ready rows in creation order from deliveries_ready. Rows in
-- backoff or leased wait in deliveries_waiting, ordered by due time, and are
-- moved back to ready when they come due: a large backlog in backoff is never
-- scanned, and a retried row still goes out before newer rows of its sink.
CREATE INDEX deliveries_ready ON deliveries(sink, message_id) WHERE state = 0 AND waiting = 0;
CREATE INDEX deliveries_waiting ON deliveries(sink, next_at) WHERE state = 0 AND waiting = 1;

-- Persistent per-channel counters.
CREATE TABLE channel_stats (
	channel TEXT    PRIMARY KEY,
	dropped INTEGER NOT NULL DEFAULT 0  -- rows dropped by the cap, ever
) STRICT;

-- Circuit breaker snapshots, saved on every transition.
CREATE TABLE breakers (
	name       TEXT    PRIMARY KEY,
	state      INTEGER NOT NULL,
	failures   INTEGER NOT NULL,
	opened_at  INTEGER NOT NULL,  -- unix ms, 0 when never opened
	probes     INTEGER NOT NULL,
	updated_at INTEGER NOT NULL
) STRICT;

-- Slug → ids, resolved from Kick's API (or config).
CREATE TABLE channels (
	slug        TEXT    PRIMARY KEY,
	chatroom_id INTEGER NOT NULL,
	channel_id  INTEGER NOT NULL DEFAULT 0,
	resolved_at INTEGER NOT NULL
) STRICT;
