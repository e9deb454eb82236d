package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"kickwatch/pipeline/discord/discordfake"
)

// embedsPerRequest is Discord's limit of embeds in one message.
const embedsPerRequest = 10

// runDrain queues -backlog mentions with `kickwatch replay`, then starts the
// daemon against a rate-limited Discord fake and times the drain.
func runDrain(ctx context.Context, o options, rep *report, progress io.Writer) error {
	limits := discordfake.Options{BucketLimit: o.bucketLimit, BucketWindow: o.bucketWindow,
		ChannelLimit: o.channelLimit, ChannelWindow: o.channelWindow}
	r, err := newRig(ctx, o, limits, false)
	if err != nil {
		return err
	}
	defer r.close()

	frames := mentionFrames(r.channels, watchedUser, o.backlog, r.track)
	file := filepath.Join(r.dir, "backlog.jsonl")
	if err := os.WriteFile(file, append(bytes.Join(frames, []byte("\n")), '\n'), 0o600); err != nil {
		return fmt.Errorf("write backlog: %w", err)
	}
	res, err := r.daemon.RunCLI(ctx, "replay", "-config", r.daemon.Config, file)
	if err != nil {
		return err
	}
	if res.ExitCode != 0 {
		return fmt.Errorf("kickwatch replay: exit %d\n%s%s", res.ExitCode, res.Stdout, res.Stderr)
	}
	ob, err := openOutbox(filepath.Join(r.dir, "kickwatch.db"), r.sinks)
	if err != nil {
		return err
	}
	d, err := ob.depth(ctx)
	ob.Close()
	if err != nil {
		return err
	}
	if d.Undelivered != o.backlog {
		return fmt.Errorf("replay queued %d mentions, want %d\n%s%s", d.Undelivered, o.backlog, res.Stdout, res.Stderr)
	}
	fmt.Fprintf(progress, "loadgen: drain run: %d mentions queued; Discord fake allows %d per %v per webhook and %d per %v per channel\n",
		o.backlog, o.bucketLimit, o.bucketWindow, o.channelLimit, o.channelWindow)

	if err := r.start(ctx); err != nil {
		return err
	}
	footprint(rep, r)
	all := r.waitDelivered(ctx, o.drainTimeout)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	end, err := readProc(r.proc.Pid())
	if err != nil {
		return err
	}
	series := r.series()
	code, stopErr := r.stop(ctx)

	_, got, _ := r.track.counts()
	dups, unknown, first, last := r.track.extra()
	dc := r.discord.counts()
	batched := idealDrain((o.backlog+embedsPerRequest-1)/embedsPerRequest, o.bucketLimit, o.bucketWindow, o.channelLimit, o.channelWindow)
	single := idealDrain(o.backlog, o.bucketLimit, o.bucketWindow, o.channelLimit, o.channelWindow)
	took := last.Sub(r.proc.Started())
	ratio := took.Seconds() / single.Seconds()
	rep.check(fmt.Sprintf("drain of %d queued mentions (daemon start → last accepted request)", o.backlog),
		fmt.Sprintf("≤ 1/8 of one embed per request (%v)", (single/8).Round(time.Second)),
		all && ratio <= targetDrain, "%v = 1/%.1f of %v (one embed per request under the same limits); the ideal with %d embeds per request is %v",
		took.Round(100*time.Millisecond), 1/ratio, single.Round(time.Second), embedsPerRequest, batched.Round(time.Second))
	rep.add("mentions delivered", "%d of %d (duplicates %d, unknown %d); first at %v, last at %v after start",
		got, o.backlog, dups, unknown, first.Sub(r.proc.Started()).Round(time.Millisecond), took.Round(time.Millisecond))
	rep.add("Discord requests", "%d (%d accepted, %.1f embeds per accepted request)",
		dc.Requests, dc.Accepted, float64(dc.Embeds)/float64(max(dc.Accepted, 1)))
	rep.check("429s from sending early (bucket said empty, reset not reached)", "0", dc.Early == 0,
		"%d; all 429s: %d (the rest are the hidden per-channel limit's \"shared\" 429s, which no header announces)",
		dc.Early, dc.Status[http.StatusTooManyRequests])
	rep.add("peak RSS (VmHWM)", "%.1f MiB", mb(end.HWMKB))
	rep.add("daemon exit after SIGTERM", "code %d", code)
	if stopErr != nil {
		rep.note("stopping the daemon: %v", stopErr)
	}
	rep.addSeries(series, r.proc.Started(), nil, 40)
	return nil
}

// idealDrain is when the last of n requests can go out (the first at 0)
// under the fake's fixed windows: at most lb per wb, and lc per wc (lc 0:
// none), each window starting at the first request after the last one ended.
func idealDrain(n, lb int, wb time.Duration, lc int, wc time.Duration) time.Duration {
	var t, bStart, cStart, last time.Duration
	bCount, cCount := 0, 0
	bOpen, cOpen := false, false
	for range n {
		for {
			if !bOpen || t >= bStart+wb {
				bStart, bCount, bOpen = t, 0, true
			}
			if lc > 0 && (!cOpen || t >= cStart+wc) {
				cStart, cCount, cOpen = t, 0, true
			}
			if bCount >= lb {
				t = bStart + wb
				continue
			}
			if lc > 0 && cCount >= lc {
				t = cStart + wc
				continue
			}
			break
		}
		bCount++
		cCount++
		last = t
	}
	return last
}
