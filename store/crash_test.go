package store

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

const crashChildEnv = "KICKWATCH_STORE_CRASH_CHILD"

// TestMain lets the crash test re-execute this binary as a worker.
func TestMain(m *testing.M) {
	if path := os.Getenv(crashChildEnv); path != "" {
		crashChild(path, os.Getenv(crashChildEnv+"_START"))
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// crashChild enqueues, claims and settles in a loop, printing each step only
// after the store has acknowledged it, until it is killed.
func crashChild(path, start string) {
	ctx := context.Background()
	s, err := Open(ctx, path, Options{Sinks: []string{"a", "b"}, CapPerChannel: -1, CapTotal: -1})
	if err != nil {
		fmt.Println("error", err)
		return
	}
	out := bufio.NewWriter(os.Stdout)
	var n int
	fmt.Sscan(start, &n)
	for {
		var items []Item
		for range 1 + n%7 {
			items = append(items, Item{Key: fmt.Sprintf("k%08d", n), Channel: fmt.Sprintf("c%d", n%3), Payload: []byte("x")})
			n++
		}
		if _, err := s.EnqueueBatch(ctx, items); err != nil {
			fmt.Fprintln(out, "error", err)
			out.Flush()
			return
		}
		for _, it := range items {
			fmt.Fprintln(out, "enq", it.Key)
		}
		out.Flush()
		for _, sink := range []string{"a", "b"} {
			cs, err := s.Claim(ctx, sink, 5, time.Hour)
			if err != nil {
				fmt.Fprintln(out, "error", err)
				out.Flush()
				return
			}
			var ss []Settlement
			for i, c := range cs {
				if i%3 == 2 {
					continue // left leased, as a delivery cut short by the crash
				}
				ss = append(ss, Settlement{ID: c.ID, Verdict: Deliver, RemoteRef: c.Key})
			}
			if err := s.Settle(ctx, sink, ss); err != nil {
				fmt.Fprintln(out, "error", err)
				out.Flush()
				return
			}
			for _, st := range ss {
				fmt.Fprintln(out, "ack", sink, st.RemoteRef)
			}
			out.Flush()
		}
	}
}

// TestOutbox_SurvivesSIGKILL kills a worker process at random moments and
// checks after each kill that no acknowledged write was lost, that every
// row's bookkeeping is consistent, and that expired leases redeliver.
func TestOutbox_SurvivesSIGKILL(t *testing.T) {
	cycles := 25
	if testing.Short() {
		cycles = 5
	}
	path := filepath.Join(t.TempDir(), "crash.db")
	enqueued := map[string]bool{}
	acked := map[string]bool{} // sink + " " + key
	next := 0
	for cycle := range cycles {
		cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+path, fmt.Sprintf("%s_START=%d", crashChildEnv, next))
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		killAfter := 1 + rand.IntN(400) // lines read before the kill
		sc := bufio.NewScanner(stdout)
		lines := 0
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			switch {
			case len(f) == 2 && f[0] == "enq":
				enqueued[f[1]] = true
			case len(f) == 3 && f[0] == "ack":
				acked[f[1]+" "+f[2]] = true
			default:
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatalf("cycle %d: child said %q", cycle, sc.Text())
			}
			lines++
			if lines == killAfter {
				cmd.Process.Signal(syscall.SIGKILL)
				break
			}
		}
		// Drain what the child printed before it died: those were acknowledged too.
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) == 2 && f[0] == "enq" {
				enqueued[f[1]] = true
			} else if len(f) == 3 && f[0] == "ack" {
				acked[f[1]+" "+f[2]] = true
			}
		}
		cmd.Wait()
		next += 100000
		checkCrashInvariants(t, cycle, path, enqueued, acked)
	}
	if len(enqueued) == 0 || len(acked) == 0 {
		t.Fatalf("the child acknowledged nothing (enqueued=%d acked=%d)", len(enqueued), len(acked))
	}
	t.Logf("%d kills, %d acknowledged enqueues, %d acknowledged deliveries, none lost", cycles, len(enqueued), len(acked))
}

func checkCrashInvariants(t *testing.T, cycle int, path string, enqueued, acked map[string]bool) {
	t.Helper()
	ctx := t.Context()
	// Far enough ahead that every lease has expired, the child's and those of
	// earlier checks.
	later := func() time.Time { return time.Now().Add(time.Duration(cycle+1) * 10 * time.Hour) }
	s, err := Open(ctx, path, Options{Sinks: []string{"a", "b"}, CapPerChannel: -1, CapTotal: -1, Now: later})
	if err != nil {
		t.Fatalf("cycle %d: reopen: %v", cycle, err)
	}
	defer s.Close()
	var integrity string
	if err := s.db.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&integrity); err != nil || integrity != "ok" {
		t.Fatalf("cycle %d: integrity %q %v", cycle, integrity, err)
	}
	have := map[string]bool{}
	rows, err := s.db.QueryContext(ctx, `SELECT key FROM messages`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var k string
		rows.Scan(&k)
		have[k] = true
	}
	rows.Close()
	for k := range enqueued {
		if !have[k] {
			t.Fatalf("cycle %d: acknowledged enqueue %s lost", cycle, k)
		}
	}
	delivered := map[string]bool{}
	rows, _ = s.db.QueryContext(ctx, `SELECT d.sink, m.key FROM deliveries d JOIN messages m ON m.id = d.message_id WHERE d.state = 1`)
	for rows.Next() {
		var sink, k string
		rows.Scan(&sink, &k)
		delivered[sink+" "+k] = true
	}
	rows.Close()
	for k := range acked {
		if !delivered[k] {
			t.Fatalf("cycle %d: acknowledged delivery %s lost", cycle, k)
		}
	}
	// Bookkeeping: pending counts match the deliveries, one state per sink.
	var bad int
	err = s.db.QueryRowContext(ctx, `SELECT count(*) FROM messages m WHERE m.pending !=
		(SELECT count(*) FROM deliveries d WHERE d.message_id = m.id AND d.state = 0)
		OR (SELECT count(*) FROM deliveries d WHERE d.message_id = m.id) != 2`).Scan(&bad)
	if err != nil || bad != 0 {
		t.Fatalf("cycle %d: %d rows with inconsistent bookkeeping (%v)", cycle, bad, err)
	}
	// Every pending row, leased ones included, is due again after the lease.
	for _, sink := range []string{"a", "b"} {
		var pending int
		s.db.QueryRowContext(ctx, `SELECT count(*) FROM deliveries WHERE sink = ? AND state = 0`, sink).Scan(&pending)
		claimed := 0
		for {
			cs, err := s.Claim(ctx, sink, 1000, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			if len(cs) == 0 {
				break
			}
			claimed += len(cs)
		}
		if claimed != pending {
			t.Fatalf("cycle %d: sink %s: %d due after the lease, want %d pending", cycle, sink, claimed, pending)
		}
	}
}
