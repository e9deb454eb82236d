package app

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"kickwatch/breaker"
	"kickwatch/pipeline"
)

// handler serves the operations endpoints.
func (d *daemon) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "uptime_seconds": int(time.Since(d.started).Seconds())})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		reasons := d.notReady(r.Context())
		if len(reasons) > 0 {
			writeJSON(w, http.StatusServiceUnavailable, map[string]any{"ready": false, "reasons": reasons})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"ready": true})
	})
	return mux
}

// notReady lists why the daemon is not ready; empty when it is.
func (d *daemon) notReady(ctx context.Context) []string {
	var reasons []string
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := d.store.Writable(ctx); err != nil {
		reasons = append(reasons, "store not writable: "+err.Error())
	}
	for _, slug := range d.source.unresolvedSlugs() {
		reasons = append(reasons, fmt.Sprintf("channel %s: chatroom id not resolved yet", slug))
	}
	for _, c := range d.ingest.Snapshot().Channels {
		if c.State != pipeline.ChannelSubscribed {
			reasons = append(reasons, fmt.Sprintf("channel %s: %s", c.Slug, c.State))
		}
	}
	for _, st := range d.disp.Status() {
		if !st.Ready {
			reasons = append(reasons, fmt.Sprintf("sink %s misconfigured: %s", st.Sink, st.LastError))
		}
	}
	if on, since := d.silence.state(); on {
		reasons = append(reasons, fmt.Sprintf("no chat frame on any channel since %s (kick.silence_alarm)", since.Format(time.RFC3339)))
	}
	grace := d.config().HTTP.ReadinessBreakerGrace.Duration
	now := time.Now()
	for name, b := range d.breakers {
		snap := b.Snapshot()
		if snap.State != breaker.Closed && !snap.OpenedAt.IsZero() && now.Sub(snap.OpenedAt) > grace {
			reasons = append(reasons, fmt.Sprintf("breaker %s %s since %s", name, snap.State, snap.OpenedAt.Format(time.RFC3339)))
		}
	}
	return reasons
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
