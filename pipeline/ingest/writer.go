package ingest

import (
	"context"
	"time"

	"kickwatch/pipeline"
	"kickwatch/store"
)

// Run is the writer: it group-commits queued mentions until ctx is done, then
// stores what is still queued. A commit under way when ctx ends completes.
func (in *Ingest) Run(ctx context.Context) error {
	batch := make([]queued, 0, in.maxBatch)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		if ctx.Err() != nil {
			in.flush(ctx)
			return nil
		}
		select {
		case <-ctx.Done():
			in.flush(ctx)
			return nil
		case q := <-in.queue:
			batch = append(batch, *q)
		}
		timer.Reset(in.window)
	gather:
		for len(batch) < in.maxBatch {
			select {
			case q := <-in.queue:
				batch = append(batch, *q)
			case <-timer.C:
				break gather
			case <-ctx.Done():
				break gather
			}
		}
		timer.Stop()
		// Stored even when ctx is done: these mentions left the buffer.
		in.commit(ctx, batch)
		clear(batch) // do not pin the mentions' strings until the next burst
		batch = batch[:0]
	}
}

// flush stores what is left in the buffer at shutdown (ctx is done), in
// batches of at most MaxBatch. Once the store fails, the rest is counted
// lost instead of waiting out storeTimeout for every batch.
func (in *Ingest) flush(ctx context.Context) {
	batch := make([]queued, 0, in.maxBatch)
	var failed error
	for {
		var q *queued
		select {
		case q = <-in.queue:
		default:
		}
		if q != nil {
			batch = append(batch, *q)
			if len(batch) < in.maxBatch {
				continue
			}
		}
		if len(batch) > 0 {
			if failed == nil {
				failed = in.commit(ctx, batch)
			} else {
				in.stats.lost.Add(uint64(len(batch)))
				in.log.Error("mentions not stored at shutdown", "count", len(batch), "error", failed)
				in.done(batch, failed)
			}
			batch = batch[:0]
		}
		if q == nil {
			return
		}
	}
}

// commit stores batch, retrying with backoff while the store fails (disk
// full, a slow disk) until it succeeds or ctx is done; then it tries once
// more and counts the batch lost if that fails too. Meanwhile the buffer
// fills and new matches are counted as dropped: the sockets keep being read.
// Each attempt runs under its own deadline, not under ctx, so shutdown does
// not tear a commit under way.
func (in *Ingest) commit(ctx context.Context, batch []queued) error {
	items := make([]store.Item, 0, len(batch))
	for i := range batch {
		p, err := pipeline.EncodeMention(&batch[i].m)
		if err != nil { // cannot happen for a Mention; never drop silently
			in.log.Error("mention not stored", "message_id", batch[i].m.MessageID, "error", err)
			in.stats.lost.Add(1)
			continue
		}
		items = append(items, store.Item{Key: batch[i].m.MessageID, Channel: batch[i].m.Channel, Payload: p})
	}
	wait := retryInitial
	failed := false
	for {
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
		res, err := in.outbox.EnqueueBatch(actx, items)
		cancel()
		if err == nil {
			if failed {
				in.log.Info("store recovered: mentions are stored again", "count", len(items))
			}
			in.stats.duplicates.Add(uint64(res.Duplicates))
			for ch, n := range res.Dropped {
				in.stats.capDropped(ch, n)
			}
			if len(res.Dropped) > 0 && in.capWarn.allow(in.now()) {
				in.log.Warn("outbox cap reached: oldest undelivered mentions dropped",
					"dropped", res.DroppedTotal(), "by_channel", res.Dropped)
			}
			in.done(batch, nil)
			in.wake()
			return nil
		}
		failed = true
		if ctx.Err() != nil {
			in.log.Error("mentions not stored at shutdown", "count", len(items), "error", err)
			in.stats.lost.Add(uint64(len(items)))
			in.done(batch, err)
			return err
		}
		if in.storeWarn.allow(in.now()) {
			in.log.Error("store mentions; retrying", "count", len(items), "retry_in", wait, "error", err)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done(): // shutting down: one last attempt
		case <-t.C:
		}
		t.Stop()
		wait = min(wait*2, retryMax)
	}
}

// done tells the waiting Submit callers of batch how their commit ended.
func (in *Ingest) done(batch []queued, err error) {
	for _, q := range batch {
		if q.done != nil {
			q.done <- err
		}
	}
}
