package app

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"kickwatch/breaker"
	"kickwatch/pipeline"
	"kickwatch/pipeline/config"
	"kickwatch/pipeline/status"
)

// handler serves the operations endpoints: /healthz always open, the rest
// behind basic auth when it is configured.
func (d *daemon) handler() http.Handler {
	cfg := d.config()
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", d.metrics.Handler())
	mux.Handle("/{$}", status.Handler(d.statusPage, d.log.With("component", "status")))
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
	protected := status.BasicAuth(cfg.HTTP.BasicAuthUser, cfg.HTTP.BasicAuthPassword, mux)
	top := http.NewServeMux()
	top.Handle("GET /healthz", mux) // for probes that cannot authenticate
	top.Handle("/", protected)
	return top
}

// publicWithoutAuth is the warning for a listener reachable from other
// machines without a password; empty when there is nothing to warn about.
func publicWithoutAuth(cfg *config.Config) string {
	if cfg.HTTP.Listen == "" || status.IsLoopback(cfg.HTTP.Listen) || cfg.HTTP.BasicAuthUser != "" {
		return ""
	}
	return "http.listen " + cfg.HTTP.Listen + " is reachable from other machines without a password: set http.basic_auth_user and KICKWATCH_HTTP_PASSWORD, or listen on 127.0.0.1"
}

// statusPage gathers the status page's input.
func (d *daemon) statusPage(ctx context.Context) (status.Page, error) {
	st, at, err := d.metrics.OutboxStats(ctx)
	hist, herr := d.store.History(ctx, time.Time{}, status.MaxMentions)
	if herr != nil {
		return status.Page{}, herr
	}
	on, _ := d.silence.state()
	var warns []string
	if w := publicWithoutAuth(d.config()); w != "" {
		warns = append(warns, w)
	}
	for _, r := range d.notReady(ctx) {
		warns = append(warns, "not ready: "+r)
	}
	return status.Build(status.Input{
		Version: d.env.Version, Started: d.started, Now: time.Now(),
		Ingest: d.ingest.Snapshot(), Outbox: st, OutboxAt: at, OutboxErr: err,
		Workers: d.disp.Status(), Breakers: d.breakerSnapshots(), History: hist,
		SilenceAlarm: on, SilenceAfter: d.config().Kick.SilenceAlarm.Duration, Warnings: warns,
	}), nil
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
	for _, snap := range d.breakerSnapshots() {
		name := snap.Name
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
