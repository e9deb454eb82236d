package store

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// The store's speed targets (BENCHMARKS.md) are measured here, beside the
// raw SQLite ceiling of the same machine, in the same run:
//
//	go test -run '^$' -bench . -benchmem ./store
//
// Every benchmark reports its rate per second (mentions/s, rows/s) next to
// ns/op; one op is one mention or one delivered row.

// benchPayload is a typical outbox payload: an encoded pipeline.Mention of a
// short chat message (337 bytes).
var benchPayload = []byte(`{"message_id":"6513270e-269e-4d37-b2a7-4de452e6b438","chatroom_id":2346570,` +
	`"channel":"somechannel","sender_id":4815162,"sender":"Viewer_One","content":"hey @Target_User look at ` +
	`this [emote:37226:KEKW] what do you think about it","kind":"mention","created_at":"2025-08-20T07:07:44Z",` +
	`"received_at":"2025-08-20T07:07:45Z","source":"pusher"}`)

// benchT0 is the benchmarks' fixed clock: rows put in backoff until
// benchT0+1h never come due while a benchmark runs.
var benchT0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// benchChannels spreads mentions like the load targets do (50 channels).
const benchChannels = 50

var benchSyncs = []string{"full", "normal"}

// openBench opens a store at dir with the benchmarks' clock.
func openBench(b *testing.B, dir string, o Options) *Store {
	b.Helper()
	o.Now = func() time.Time { return benchT0 }
	s, err := Open(context.Background(), filepath.Join(dir, "k.db"), o)
	if err != nil {
		b.Fatalf("open: %v", err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// benchItems returns n items with unique keys (prefix + index) spread over
// the channels.
func benchItems(prefix string, n int) []Item {
	items := make([]Item, n)
	for i := range items {
		items[i] = Item{
			Key:     prefix + strconv.Itoa(i),
			Channel: "ch" + strconv.Itoa(i%benchChannels),
			Payload: benchPayload,
		}
	}
	return items
}

// enqueueAll stores items in batches of batch, failing b on error.
func enqueueAll(b *testing.B, s *Store, items []Item, batch int) {
	b.Helper()
	ctx := context.Background()
	for i := 0; i < len(items); i += batch {
		if _, err := s.EnqueueBatch(ctx, items[i:min(i+batch, len(items))]); err != nil {
			b.Fatalf("enqueue: %v", err)
		}
	}
}

func perSecond(b *testing.B, n int, unit string) {
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(n)/s, unit)
	}
}

// BenchmarkEnqueue compares, per synchronous setting:
//   - path=raw-table: the ceiling, plain INSERTs of the same payload into a
//     one-table schema, batch rows per commit (reference §2.2's program);
//   - path=raw-schema: the store's own INSERT statements (one per message,
//     one for all deliveries of the batch) run directly, without the
//     store's Go code;
//   - path=store: Enqueue (batch=1) and EnqueueBatch, the group commit the
//     ingest writer uses (it gathers up to 512 per commit).
//
// Two sinks (discord, remote_db), caps off, 50 channels.
func BenchmarkEnqueue(b *testing.B) {
	for _, sync := range benchSyncs {
		b.Run("sync="+sync, func(b *testing.B) {
			b.Run("path=raw-table/batch=512", func(b *testing.B) { benchRawTable(b, sync, 512) })
			b.Run("path=raw-schema/batch=512", func(b *testing.B) { benchRawSchema(b, sync, 512) })
			for _, batch := range []int{1, 100, 512} {
				b.Run(fmt.Sprintf("path=store/batch=%d", batch), func(b *testing.B) {
					s := openBench(b, b.TempDir(), Options{Synchronous: sync, CapPerChannel: -1, CapTotal: -1,
						Sinks: []string{"discord", "remote_db"}})
					items := benchItems("m", b.N)
					b.ReportAllocs()
					b.ResetTimer()
					enqueueAll(b, s, items, batch)
					b.StopTimer()
					perSecond(b, b.N, "mentions/s")
				})
			}
		})
	}
}

// benchRawTable inserts b.N rows into a one-table database opened with the
// store's DSN, batch rows per transaction.
func benchRawTable(b *testing.B, sync string, batch int) {
	path := filepath.Join(b.TempDir(), "raw.db")
	dsn := fmt.Sprintf("%s?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=synchronous(%s)"+
		"&_pragma=foreign_keys(1)&_txlock=immediate", path, sync)
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, `CREATE TABLE outbox (id INTEGER PRIMARY KEY, created INTEGER NOT NULL,
		body BLOB NOT NULL, attempts INTEGER NOT NULL DEFAULT 0) STRICT`); err != nil {
		b.Fatal(err)
	}
	created := benchT0.UnixMilli()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += batch {
		err := rawTx(ctx, db, func(tx *sql.Tx) error {
			st, err := tx.PrepareContext(ctx, `INSERT INTO outbox (created, body) VALUES (?, ?)`)
			if err != nil {
				return err
			}
			defer st.Close()
			for range min(batch, b.N-i) {
				if _, err := st.ExecContext(ctx, created, benchPayload); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	perSecond(b, b.N, "mentions/s")
}

// benchRawSchema runs the store's insert statements directly in batches:
// the schema's cost without the store's bookkeeping.
func benchRawSchema(b *testing.B, sync string, batch int) {
	sinks := []string{"discord", "remote_db"}
	s := openBench(b, b.TempDir(), Options{Synchronous: sync, CapPerChannel: -1, CapTotal: -1, Sinks: sinks})
	items := benchItems("m", b.N)
	ctx := context.Background()
	created := benchT0.UnixMilli()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += batch {
		err := rawTx(ctx, s.db, func(tx *sql.Tx) error {
			msg, err := tx.PrepareContext(ctx, sqlInsertMessage)
			if err != nil {
				return err
			}
			defer msg.Close()
			var first, last int64
			for _, it := range items[i:min(i+batch, b.N)] {
				r, err := msg.ExecContext(ctx, it.Key, it.Channel, it.Payload, created, len(sinks))
				if err != nil {
					return err
				}
				if last, err = r.LastInsertId(); err != nil {
					return err
				}
				if first == 0 {
					first = last
				}
			}
			_, err = tx.ExecContext(ctx, insertDeliveriesSQL(len(sinks)), sinks[0], sinks[1], first, last)
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	perSecond(b, b.N, "mentions/s")
}

func rawTx(ctx context.Context, db *sql.DB, fn func(*sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// BenchmarkEnqueueCap measures the group commit (512 per commit, 50
// channels, two sinks) with the caps off, with caps set but not reached (the
// normal case: an in-memory check), and at the per-channel cap, where every
// new row drops the oldest undelivered row of its channel in the same
// transaction. The at-cap store is filled to 50 × 500 rows once.
func BenchmarkEnqueueCap(b *testing.B) {
	const perChannel = 500
	for _, sync := range benchSyncs {
		b.Run("sync="+sync, func(b *testing.B) {
			b.Run("cap=off", func(b *testing.B) {
				benchCap(b, openBench(b, b.TempDir(), Options{Synchronous: sync, CapPerChannel: -1, CapTotal: -1,
					Sinks: []string{"discord", "remote_db"}}))
			})
			b.Run("cap=below", func(b *testing.B) {
				benchCap(b, openBench(b, b.TempDir(), Options{Synchronous: sync, CapPerChannel: 1 << 30, CapTotal: 1 << 30,
					Sinks: []string{"discord", "remote_db"}}))
			})
			b.Run("cap=at", func(b *testing.B) {
				// Built once for this sub-benchmark; every run of the loop below
				// starts at the cap and stays there.
				s := openBench(b, b.TempDir(), Options{Synchronous: sync, CapPerChannel: perChannel, CapTotal: -1,
					Sinks: []string{"discord", "remote_db"}})
				enqueueAll(b, s, benchItems("fill", perChannel*benchChannels), 512)
				round := 0
				b.Run("fill=25000", func(b *testing.B) {
					round++
					dropped := benchCapRound(b, s, fmt.Sprintf("r%d-", round))
					if dropped != b.N {
						b.Fatalf("dropped %d rows, want %d", dropped, b.N)
					}
				})
			})
		})
	}
}

func benchCap(b *testing.B, s *Store) {
	round := 0
	b.Run("fill=0", func(b *testing.B) {
		round++ // runs share the store: fresh keys each time
		if dropped := benchCapRound(b, s, fmt.Sprintf("r%d-", round)); dropped != 0 {
			b.Fatalf("dropped %d rows, want 0", dropped)
		}
	})
}

// benchCapRound enqueues b.N new items in batches of 512 and returns how
// many rows the caps dropped.
func benchCapRound(b *testing.B, s *Store, prefix string) int {
	items := benchItems(prefix, b.N)
	ctx := context.Background()
	dropped := 0
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += 512 {
		r, err := s.EnqueueBatch(ctx, items[i:min(i+512, b.N)])
		if err != nil {
			b.Fatalf("enqueue: %v", err)
		}
		dropped += r.DroppedTotal()
	}
	b.StopTimer()
	perSecond(b, b.N, "mentions/s")
	return dropped
}

// BenchmarkClaimAck is the delivery bookkeeping of one sink with a no-op
// peer: SettleAndClaim settles the last batch as delivered and claims the
// next in one transaction (one commit per batch), as the worker does.
// backlog=100000 puts 100k rows in backoff (due in an hour) ahead of the due
// rows; the claim must not scan them. The backlog is built once per run of
// the benchmark and copied for each setting.
func BenchmarkClaimAck(b *testing.B) {
	tmpl := b.TempDir() // lives until every setting below has copied the backlog
	var template string // a closed database holding the backlog, built on first use
	for _, sync := range benchSyncs {
		b.Run("sync="+sync, func(b *testing.B) {
			for _, backlog := range []int{0, 100000} {
				b.Run(fmt.Sprintf("backlog=%d", backlog), func(b *testing.B) {
					dir := b.TempDir()
					if backlog > 0 {
						if template == "" {
							template = buildBacklog(b, filepath.Join(tmpl, "backlog.db"), backlog)
						}
						copyFile(b, template, filepath.Join(dir, "k.db"))
					}
					s := openBench(b, dir, Options{Synchronous: sync, CapPerChannel: -1, CapTotal: -1, Sinks: []string{"discord"}})
					if backlog > 0 {
						checkBacklog(b, s, backlog)
					}
					for _, batch := range []int{10, 100} {
						round := 0
						b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
							round++
							benchClaimAck(b, s, fmt.Sprintf("b%d-r%d-", batch, round), batch)
						})
					}
				})
			}
		})
	}
}

func benchClaimAck(b *testing.B, s *Store, prefix string, batch int) {
	ctx := context.Background()
	enqueueAll(b, s, benchItems(prefix, b.N), 512)
	var prev []Settlement
	delivered, commits := 0, 0
	b.ReportAllocs()
	b.ResetTimer()
	for delivered < b.N {
		rows, err := s.SettleAndClaim(ctx, "discord", prev, batch, time.Minute)
		commits++
		if err != nil {
			b.Fatalf("settle and claim: %v", err)
		}
		if len(rows) == 0 {
			b.Fatalf("claimed nothing after %d of %d rows", delivered, b.N)
		}
		prev = prev[:0]
		for _, r := range rows {
			prev = append(prev, Settlement{ID: r.ID, Verdict: Deliver, RemoteRef: "1"})
		}
		delivered += len(rows)
	}
	if err := s.Settle(ctx, "discord", prev); err != nil {
		b.Fatalf("settle: %v", err)
	}
	commits++
	b.StopTimer()
	perSecond(b, b.N, "rows/s")
	b.ReportMetric(float64(commits)/float64(b.N), "commits/row")
}

// buildBacklog writes a closed database at path whose n rows (sink
// "discord") all wait in backoff until benchT0+1h, and returns path.
func buildBacklog(b *testing.B, path string, n int) string {
	b.Helper()
	ctx := context.Background()
	s, err := Open(ctx, path, Options{Synchronous: "normal", CapPerChannel: -1, CapTotal: -1, Sinks: []string{"discord"},
		Now: func() time.Time { return benchT0 }})
	if err != nil {
		b.Fatal(err)
	}
	enqueueAll(b, s, benchItems("backlog", n), 512)
	var ss []Settlement
	for {
		rows, err := s.SettleAndClaim(ctx, "discord", ss, 1000, time.Minute)
		if err != nil {
			b.Fatal(err)
		}
		if len(rows) == 0 {
			break
		}
		ss = ss[:0]
		for _, r := range rows {
			ss = append(ss, Settlement{ID: r.ID, Verdict: Retry, RetryAt: benchT0.Add(time.Hour), Error: "503", Attempted: true})
		}
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	return path
}

// checkBacklog fails b unless n rows are pending and none is due.
func checkBacklog(b *testing.B, s *Store, n int) {
	b.Helper()
	st, err := s.Stats(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	if len(st.Sinks) != 1 || st.Sinks[0].Pending != n || st.Sinks[0].Due != 0 {
		b.Fatalf("backlog stats %+v, want %d pending and none due", st.Sinks, n)
	}
}

func copyFile(b *testing.B, from, to string) {
	b.Helper()
	in, err := os.Open(from)
	if err != nil {
		b.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		b.Fatal(err)
	}
	if err := out.Close(); err != nil {
		b.Fatal(err)
	}
}
