package app

import (
	"context"
	"fmt"
	"slices"

	"kickwatch/pipeline/config"
)

// config returns the config in force.
func (d *daemon) config() *config.Config {
	d.cfgMu.Lock()
	defer d.cfgMu.Unlock()
	return d.cfg
}

// reload re-reads the config file (SIGHUP) and applies what can change on a
// running daemon: log level, match rules, the channel list (on the live
// socket) and sink URLs and keys (a paused, misconfigured sink resumes). A
// config that does not load or validate is rejected whole, with its errors,
// and the old one stays in force. It reports whether the new config applies.
func (d *daemon) reload(ctx context.Context) bool {
	old := d.config()
	if old.Source == config.EmbeddedSource {
		d.log.Warn("reload: no config file in use (the built-in default runs); nothing to re-read")
		return false
	}
	cfg, warns, err := config.Load(config.Options{Path: old.Source, Defaults: d.env.DefaultConfig, Getenv: d.env.Getenv})
	if err != nil {
		d.log.Error("reload rejected; the running config stays in force", "errors", err.Error())
		return false
	}
	for _, w := range warns {
		d.log.Warn("config", "warning", w.String())
	}
	// Build everything first: nothing changes unless all of it works.
	m, err := newMatcher(cfg)
	if err != nil {
		d.log.Error("reload rejected; the running config stays in force", "errors", err.Error())
		return false
	}
	sinks, err := buildSinks(cfg, d.env, d.log)
	if err != nil {
		d.log.Error("reload rejected; the running config stays in force", "errors", err.Error())
		return false
	}
	var names []string
	for _, s := range sinks {
		names = append(names, s.Name())
	}
	restart := needsRestart(old, cfg)
	if !slices.Equal(names, d.sinkOrder) {
		restart = append(restart, fmt.Sprintf("enabled sinks (%v → %v)", d.sinkOrder, names))
	}

	d.level.Set(cfg.Log.Level.Slog())
	d.ingest.SetMatcher(m)
	for _, s := range sinks {
		if w, ok := d.workers[s.Name()]; ok {
			if err := w.SetSink(s); err != nil {
				d.log.Error("reload sink", "sink", s.Name(), "error", err)
			}
		}
	}
	if !old.DemoMode() || !cfg.DemoMode() {
		if err := d.source.reconfigure(ctx, cfg.Kick.Channels); err != nil {
			restart = append(restart, "channels: "+err.Error())
		}
	}
	d.cfgMu.Lock()
	d.cfg = cfg
	d.cfgMu.Unlock()
	if len(restart) > 0 {
		d.log.Warn("config reloaded; these changes take effect at the next restart", "pending", restart)
	} else {
		d.log.Info("config reloaded", "channels", len(cfg.Kick.Channels), "sinks", names)
	}
	return true
}

// needsRestart lists the settings that differ between old and cfg but are
// read only at start.
func needsRestart(old, cfg *config.Config) []string {
	var out []string
	diff := func(name string, changed bool) {
		if changed {
			out = append(out, name)
		}
	}
	diff("store", old.Store != cfg.Store)
	diff("http.listen", old.HTTP.Listen != cfg.HTTP.Listen)
	diff("log.format", old.Log.Format != cfg.Log.Format)
	diff("kick.demo", old.DemoMode() != cfg.DemoMode())
	diff("kick.transport", old.Kick.Transport != cfg.Kick.Transport)
	diff("kick.ws_url", old.Kick.WSURL != cfg.Kick.WSURL)
	diff("kick keepalive and timeouts", old.Kick.ConnectTimeout != cfg.Kick.ConnectTimeout ||
		old.Kick.PingInterval != cfg.Kick.PingInterval || old.Kick.PongTimeout != cfg.Kick.PongTimeout)
	diff("breaker thresholds", old.Discord.FailureThreshold != cfg.Discord.FailureThreshold ||
		old.Discord.RecoveryTimeout != cfg.Discord.RecoveryTimeout ||
		old.RemoteDB.FailureThreshold != cfg.RemoteDB.FailureThreshold ||
		old.RemoteDB.RecoveryTimeout != cfg.RemoteDB.RecoveryTimeout)
	diff("delivery", old.Delivery != cfg.Delivery)
	return out
}
