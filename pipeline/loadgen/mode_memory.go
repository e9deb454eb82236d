package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"kickwatch/pipeline/e2e"
)

// runMemory is the memory run: healthy traffic, then both sinks down while
// the outbox fills to its cap, then back up.
func runMemory(ctx context.Context, o options, rep *report, progress io.Writer) error {
	r, err := startRig(ctx, o, unlimited, true, rep)
	if err != nil {
		return err
	}
	defer r.close()
	perChannel, total := o.capPerChannel, o.capTotal
	if perChannel <= 0 {
		perChannel = 500 // kickwatch's default
	}
	if total <= 0 {
		total = max(50000, perChannel) // e2e.Settings' rule for the default
	}
	capRows := min(perChannel*o.channels, total)

	tr := newTraffic(r.kick, r.channels, watchedUser, o.mentions, r.track)
	tctx, stopTraffic := context.WithCancel(ctx)
	defer stopTraffic()
	var wg sync.WaitGroup
	wg.Go(func() { tr.run(tctx, o.rate) })

	start := time.Now()
	fmt.Fprintf(progress, "loadgen: memory run: %.0f frames/s over %d channels; healthy for %v, both sinks down for %v, then %v to recover\n",
		o.rate, o.channels, o.warm, o.outage, o.recover)
	if !wait(ctx, o.warm) {
		return ctx.Err()
	}
	base, err := readProc(r.proc.Pid())
	if err != nil {
		return err
	}
	f0 := tr.frames.Load()

	// The outage: Discord answers 503 "overloaded", PostgREST 503 "database down".
	r.dgate.Down(http.StatusServiceUnavailable, e2e.DiscordOverloaded, "application/json", nil)
	if r.pgate != nil {
		r.pgate.Down(http.StatusServiceUnavailable, e2e.PostgRESTDown, "application/json; charset=utf-8", nil)
	}
	outageStart := time.Now()
	capAt := time.Duration(-1)
	tick := time.NewTicker(30 * time.Second)
	defer tick.Stop()
	deadline := time.NewTimer(o.outage)
	defer deadline.Stop()
	poll := time.NewTicker(o.sample)
	defer poll.Stop()
outage:
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			break outage
		case <-tick.C:
			if ss := r.series(); len(ss) > 0 {
				s := ss[len(ss)-1]
				fmt.Fprintf(progress, "loadgen: outage %v: RSS %.1f MiB, undelivered %d of cap %d\n",
					time.Since(outageStart).Round(time.Second), mb(s.RSSKB), s.Depth.Undelivered, capRows)
			}
		case <-poll.C:
			if ss := r.series(); capAt < 0 && len(ss) > 0 && ss[len(ss)-1].Depth.Undelivered >= capRows {
				capAt = time.Since(outageStart)
			}
		}
	}
	outageEnd, err := readProc(r.proc.Pid())
	if err != nil {
		return err
	}
	f1 := tr.frames.Load()
	atEnd := r.series()
	dropped, _ := r.outbox.dropped(ctx)

	// Recovery: both sinks up again; time until the outbox is empty.
	r.dgate.Up()
	if r.pgate != nil {
		r.pgate.Up()
	}
	upAt := time.Now()
	drained := time.Duration(-1)
	for drained < 0 && time.Since(upAt) < o.recover {
		if !wait(ctx, o.sample) {
			return ctx.Err()
		}
		dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		d, err := r.outbox.depth(dctx)
		cancel()
		if err == nil && d.Undelivered == 0 {
			drained = time.Since(upAt)
		}
	}
	stopTraffic()
	wg.Wait()
	end, err := readProc(r.proc.Pid())
	if err != nil {
		return err
	}
	series := r.series()
	code, stopErr := r.stop(ctx)

	// RSS while healthy, and its spread during the outage against the value
	// at the outage's start.
	var warm sample
	var lo, hi int64
	lo = 1 << 62
	for _, s := range series {
		switch {
		case s.At.Before(outageStart):
			if s.RSSKB > warm.RSSKB {
				warm = s
			}
		case !s.At.After(outageEnd.At):
			lo, hi = min(lo, s.RSSKB), max(hi, s.RSSKB)
		}
	}
	rep.check(fmt.Sprintf("RSS while healthy (%d ch × %.0f frames/s), max", o.channels, o.rate/float64(o.channels)),
		fmt.Sprintf("≤ %d MB", targetRSSMB), float64(warm.RSSKB)*1024 <= targetRSSMB*1e6, "%.1f MiB (anon %.1f + file-backed %.1f)",
		mb(warm.RSSKB), mb(warm.AnonKB), mb(warm.FileKB))
	if lo <= hi {
		dlo, dhi := float64(lo-base.RSSKB)/float64(base.RSSKB), float64(hi-base.RSSKB)/float64(base.RSSKB)
		rep.check(fmt.Sprintf("RSS during the %v outage vs its start (%.1f MiB)", o.outage, mb(base.RSSKB)),
			fmt.Sprintf("within ±%.0f%% (10 min outage)", targetRSSVar*100),
			dlo >= -targetRSSVar && dhi <= targetRSSVar, "%.1f–%.1f MiB (%+.1f%% / %+.1f%%)", mb(lo), mb(hi), dlo*100, dhi*100)
	}
	rep.add("peak RSS (VmHWM, whole run)", "%.1f MiB", mb(end.HWMKB))
	if len(atEnd) > 0 {
		last := atEnd[len(atEnd)-1]
		capText := "not reached"
		if capAt >= 0 {
			capText = "reached after " + capAt.Round(time.Second).String()
		}
		rep.check("outbox at the end of the outage", fmt.Sprintf("fills to its cap (%d)", capRows), capAt >= 0,
			"%d undelivered (%s); %d rows dropped by the cap; pending %s", last.Depth.Undelivered, capText, dropped, pendingText(last.Depth.Pending))
	}
	if drained >= 0 {
		rep.add("backlog drained after the outage", "in %v (includes the breakers' wait for their next probe and the retry backoff)", drained.Round(100*time.Millisecond))
	} else {
		rep.add("backlog drained after the outage", "not within -recover %v", o.recover)
	}
	if frames := f1 - f0; frames > 0 {
		el := outageEnd.At.Sub(base.At).Seconds()
		rep.add("daemon CPU seconds per 100k frames (outage)", "%.2f s (%.1f%% of one core; %.0f frames/s)",
			(outageEnd.CPU-base.CPU).Seconds()/float64(frames)*1e5, 100*(outageEnd.CPU-base.CPU).Seconds()/el, float64(frames)/el)
	}
	rep.add("daemon exit after SIGTERM", "code %d", code)
	if stopErr != nil {
		rep.note("stopping the daemon: %v", stopErr)
	}
	if o.outage < 10*time.Minute {
		rep.note("the target names a 10-minute outage; this run's was %v (run with -outage 10m for the full figure)", o.outage)
	}
	rep.addSeries(series, start, func(t time.Time) string {
		switch {
		case t.Before(outageStart):
			return "healthy"
		case !t.After(outageEnd.At):
			return "outage"
		}
		return "recover"
	}, 60)
	return nil
}
