package app

import (
	"context"
	"sync"
	"time"

	"kickwatch/pipeline"
	"kickwatch/pipeline/ingest"
)

// silence is the silent-source alarm. Kick has changed its chat transport
// before without closing the old sockets: they stay healthy and simply stop
// carrying chat. When no chat frame has arrived on any channel for
// kick.silence_alarm while every channel looks subscribed, the alarm goes on:
// one warning, readiness fails, the metric and the status page show it.
type silence struct {
	mu    sync.Mutex
	on    bool
	since time.Time // the last chat frame (or the start) when on
}

// state reports whether the alarm is on and since when chat is silent. A nil
// silence is never on.
func (s *silence) state() (bool, time.Time) {
	if s == nil {
		return false, time.Time{}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.on, s.since
}

// update re-evaluates the alarm at now for a daemon started at started
// (silence counts from there until the first frame) and reports whether it
// changed. threshold zero disables the alarm.
func (s *silence) update(now, started time.Time, threshold time.Duration, snap ingest.Snapshot) (changed bool) {
	on, since := false, time.Time{}
	if threshold > 0 && healthy(snap) {
		since = snap.LastFrame
		if since.IsZero() || since.Before(started) {
			since = started
		}
		on = now.Sub(since) >= threshold
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	changed = on != s.on
	s.on = on
	s.since = since
	if !on {
		s.since = time.Time{}
	}
	return changed
}

// healthy reports whether there are channels and every one is subscribed:
// silence on a broken connection is the reconnect logic's business.
func healthy(snap ingest.Snapshot) bool {
	if len(snap.Channels) == 0 {
		return false
	}
	for _, c := range snap.Channels {
		if c.State != pipeline.ChannelSubscribed {
			return false
		}
	}
	return true
}

// silenceCheckEvery is how often the alarm is evaluated for threshold t.
func silenceCheckEvery(t time.Duration) time.Duration {
	return min(max(t/10, time.Second), time.Minute)
}

// watchSilence evaluates the alarm until ctx is done.
func (d *daemon) watchSilence(ctx context.Context) error {
	threshold := d.config().Kick.SilenceAlarm.Duration
	if threshold <= 0 {
		return nil
	}
	t := time.NewTicker(silenceCheckEvery(threshold))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			threshold := d.config().Kick.SilenceAlarm.Duration
			if !d.silence.update(now, d.started, threshold, d.ingest.Snapshot()) {
				continue
			}
			if on, since := d.silence.state(); on {
				d.log.Warn("no chat frame on any channel although every connection looks healthy: Kick may have moved its chat to another transport; check for a kickwatch update or try kick.transport",
					"silent_since", since.Format(time.RFC3339), "silence_alarm", threshold)
			} else {
				d.log.Info("chat frames arrive again; silence alarm off")
			}
		}
	}
}
