package deliver_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"kickwatch/breaker"
	"kickwatch/pipeline"
	"kickwatch/pipeline/deliver"
	"kickwatch/store"
)

// BenchmarkWorkerDrain runs a real Worker against a real store and a no-op
// sink until b.N queued rows are delivered: the whole delivery loop
// (NextDue, Claim, decode, Deliver, settle) without a network. One op is one
// delivered row. commits/batch counts the outbox transactions (Claim, Settle,
// SettleAndClaim: one commit each) per Deliver call; the worker settles a
// batch and claims the next in one, so it should be 1.
//
//	go test -run '^$' -bench WorkerDrain -benchmem ./pipeline/deliver
func BenchmarkWorkerDrain(b *testing.B) {
	for _, syncMode := range []string{"full", "normal"} {
		for _, batch := range []int{10, 100} {
			b.Run(fmt.Sprintf("sync=%s/batch=%d", syncMode, batch), func(b *testing.B) {
				st, err := store.Open(context.Background(), filepath.Join(b.TempDir(), "k.db"),
					store.Options{Synchronous: syncMode, CapPerChannel: -1, CapTotal: -1, Sinks: []string{"noop"}})
				if err != nil {
					b.Fatal(err)
				}
				defer st.Close()
				fill(b, st, b.N)

				out := &countingOutbox{Store: st, want: b.N, done: make(chan struct{})}
				sink := &noopSink{batch: batch}
				w := deliver.NewWorker(deliver.WorkerOptions{Sink: sink, Outbox: out,
					Breaker: breaker.New(breaker.Settings{Name: "noop"})})
				ctx, cancel := context.WithCancel(context.Background())
				var wg sync.WaitGroup
				b.ReportAllocs()
				b.ResetTimer()
				wg.Go(func() { w.Run(ctx) })
				select {
				case <-out.done:
				case <-time.After(5 * time.Minute):
					b.Errorf("delivered %d of %d rows in 5 minutes", out.delivered.Load(), b.N)
				}
				b.StopTimer()
				cancel()
				wg.Wait()
				if s := b.Elapsed().Seconds(); s > 0 {
					b.ReportMetric(float64(b.N)/s, "rows/s")
				}
				calls := sink.calls.Load()
				if calls > 0 {
					b.ReportMetric(float64(out.commits.Load())/float64(calls), "commits/batch")
				}
			})
		}
	}
}

// BenchmarkWorkerTrickle is the delivery path at a low mention rate, the
// common case: each op enqueues one mention, wakes the worker (as the ingest
// writer does after its commit) and waits until the row is settled as
// delivered. ns/op is that round trip; commits/batch shows the lease commit
// of Claim plus the settle commit when each batch is a single row.
//
//	go test -run '^$' -bench WorkerTrickle -benchmem ./pipeline/deliver
func BenchmarkWorkerTrickle(b *testing.B) {
	for _, syncMode := range []string{"full", "normal"} {
		b.Run("sync="+syncMode, func(b *testing.B) {
			st, err := store.Open(context.Background(), filepath.Join(b.TempDir(), "k.db"),
				store.Options{Synchronous: syncMode, CapPerChannel: -1, CapTotal: -1, Sinks: []string{"noop"}})
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			out := &countingOutbox{Store: st, want: b.N, done: make(chan struct{}), step: make(chan struct{}, 1)}
			sink := &noopSink{batch: 10}
			w := deliver.NewWorker(deliver.WorkerOptions{Sink: sink, Outbox: out,
				Breaker: breaker.New(breaker.Settings{Name: "noop"})})
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			wg.Go(func() { w.Run(ctx) })
			p := []byte(`{"message_id":"x","chatroom_id":1,"channel":"ch","sender":"Viewer_One","content":"hey @Target_User",` +
				`"kind":"mention","created_at":"2025-08-20T07:07:44Z","received_at":"2025-08-20T07:07:45Z"}`)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				item := store.Item{Key: "t" + strconv.Itoa(i), Channel: "ch", Payload: p}
				if _, err := st.EnqueueBatch(ctx, []store.Item{item}); err != nil {
					b.Fatal(err)
				}
				w.Wake()
				for out.delivered.Load() < int64(i+1) {
					select {
					case <-out.step:
					case <-time.After(time.Minute):
						b.Fatalf("row %d not delivered in a minute", i)
					}
				}
			}
			b.StopTimer()
			cancel()
			wg.Wait()
			if calls := sink.calls.Load(); calls > 0 {
				b.ReportMetric(float64(out.commits.Load())/float64(calls), "commits/batch")
			}
		})
	}
}

// fill enqueues n encoded mentions over 50 channels.
func fill(b *testing.B, st *store.Store, n int) {
	b.Helper()
	t0 := time.Date(2025, 8, 20, 7, 7, 44, 0, time.UTC)
	items := make([]store.Item, 0, 512)
	flush := func() {
		if _, err := st.EnqueueBatch(context.Background(), items); err != nil {
			b.Fatalf("enqueue: %v", err)
		}
		items = items[:0]
	}
	for i := range n {
		key := "m" + strconv.Itoa(i)
		ch := "ch" + strconv.Itoa(i%50)
		m := pipeline.Mention{MessageID: key, ChatroomID: int64(1000 + i%50), Channel: ch, SenderID: 4815162,
			Sender: "Viewer_One", Content: "hey @Target_User look at this [emote:37226:KEKW] what do you think about it",
			Kind: pipeline.KindMention, CreatedAt: t0, ReceivedAt: t0.Add(time.Second), Source: "pusher"}
		p, err := pipeline.EncodeMention(&m)
		if err != nil {
			b.Fatal(err)
		}
		items = append(items, store.Item{Key: key, Channel: ch, Payload: p})
		if len(items) == cap(items) {
			flush()
		}
	}
	if len(items) > 0 {
		flush()
	}
}

// noopSink accepts every mention at once.
type noopSink struct {
	batch int
	calls atomic.Int64
}

func (s *noopSink) Name() string  { return "noop" }
func (s *noopSink) MaxBatch() int { return s.batch }

func (s *noopSink) Deliver(_ context.Context, ms []pipeline.Mention) []pipeline.Result {
	s.calls.Add(1)
	res := make([]pipeline.Result, len(ms))
	for i := range res {
		res[i] = pipeline.Result{Outcome: pipeline.Delivered, RemoteRef: "1"}
	}
	return res
}

// countingOutbox counts the store's write transactions and closes done once
// want rows are settled as delivered; step (if set, size 1) gets a signal
// after every settlement.
type countingOutbox struct {
	*store.Store
	want      int
	done      chan struct{}
	step      chan struct{}
	once      sync.Once
	commits   atomic.Int64
	delivered atomic.Int64
}

func (o *countingOutbox) Claim(ctx context.Context, sink string, limit int, lease time.Duration) ([]store.Claimed, error) {
	o.commits.Add(1)
	return o.Store.Claim(ctx, sink, limit, lease)
}

func (o *countingOutbox) Settle(ctx context.Context, sink string, ss []store.Settlement) error {
	if len(ss) > 0 {
		o.commits.Add(1)
	}
	err := o.Store.Settle(ctx, sink, ss)
	o.settled(ss, err)
	return err
}

func (o *countingOutbox) SettleAndClaim(ctx context.Context, sink string, ss []store.Settlement, limit int, lease time.Duration) ([]store.Claimed, error) {
	o.commits.Add(1)
	rows, err := o.Store.SettleAndClaim(ctx, sink, ss, limit, lease)
	o.settled(ss, err)
	return rows, err
}

func (o *countingOutbox) settled(ss []store.Settlement, err error) {
	if err != nil {
		return
	}
	n := 0
	for _, s := range ss {
		if s.Verdict == store.Deliver {
			n++
		}
	}
	if o.delivered.Add(int64(n)) >= int64(o.want) {
		o.once.Do(func() { close(o.done) })
	}
	if o.step != nil {
		select {
		case o.step <- struct{}{}:
		default:
		}
	}
}
