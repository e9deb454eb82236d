package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"kickwatch/breaker"
	"kickwatch/pipeline"
	"kickwatch/pipeline/config"
	"kickwatch/pipeline/deliver"
	"kickwatch/pipeline/ingest"
	"kickwatch/pipeline/kickhook"
	"kickwatch/pipeline/match"
	"kickwatch/pipeline/metrics"
	"kickwatch/store"
)

// pruneEvery is how often delivered history older than history_days goes.
const pruneEvery = time.Hour

func cmdRun(ctx context.Context, args []string, env Env) error {
	fs := flagSet(env, "run", "run [-config FILE]")
	path := fs.String("config", "", "config file (default: ./config.toml, then $XDG_CONFIG_HOME/kickwatch/config.toml, /etc/kickwatch/config.toml, then the built-in default)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("run takes no arguments, got %q", fs.Args())
	}
	boot := newLogger(env.Stderr, nil, nil)
	cfg, err := loadConfig(*path, env, boot)
	if err != nil {
		return err
	}
	d, err := newDaemon(ctx, cfg, env)
	if err != nil {
		return err
	}
	return d.run(ctx)
}

// daemon is the running kickwatch: every component, built in order.
type daemon struct {
	cfgMu sync.Mutex
	cfg   *config.Config // the config in force; see config() and reload()
	env   Env
	log   *slog.Logger
	level *slog.LevelVar

	store    *store.Store
	breakers map[string]*breaker.Breaker
	workers  map[string]*deliver.Worker
	disp     *deliver.Dispatcher
	ingest   *ingest.Ingest
	source   *source
	http     *http.Server
	httpLn   net.Listener
	started  time.Time

	sinkOrder []string // enabled sinks, in the order built
	silence   *silence
	metrics   *metrics.Metrics
	webhook   *webhookRx // nil unless [kick.webhook] is enabled
	bmu       sync.Mutex // guards breakers while the source adds its own
}

// breakerSnapshots returns every breaker's state, sorted by name.
func (d *daemon) breakerSnapshots() []breaker.Snapshot {
	d.bmu.Lock()
	defer d.bmu.Unlock()
	out := make([]breaker.Snapshot, 0, len(d.breakers))
	for _, name := range slices.Sorted(maps.Keys(d.breakers)) {
		out = append(out, d.breakers[name].Snapshot())
	}
	return out
}

// newDaemon builds every component; nothing runs yet.
func newDaemon(ctx context.Context, cfg *config.Config, env Env) (*daemon, error) {
	d := &daemon{cfg: cfg, env: env, level: new(slog.LevelVar), breakers: map[string]*breaker.Breaker{},
		workers: map[string]*deliver.Worker{}, started: time.Now(), silence: &silence{}}
	d.log = newLogger(env.Stderr, cfg, d.level)
	d.log.Info("starting kickwatch", "version", env.Version, "config", cfg.Source)

	sinks, err := buildSinks(cfg, env, d.log)
	if err != nil {
		return nil, &configError{err}
	}
	names := make([]string, 0, len(sinks))
	for _, s := range sinks {
		names = append(names, s.Name())
	}
	d.sinkOrder = names
	st, err := openStore(ctx, cfg, names)
	if err != nil {
		return nil, err
	}
	d.store = st
	if n := st.ReleasedLeases(); n > 0 {
		d.log.Info("deliveries interrupted by the last stop are due again (they may arrive twice)", "count", n)
	}
	d.metrics = metrics.New(metrics.Options{
		Ingest:   func() ingest.Snapshot { return d.ingest.Snapshot() },
		Outbox:   st.Stats,
		Breakers: d.breakerSnapshots,
		Sinks:    names,
		Silence:  func() bool { on, _ := d.silence.state(); return on },
		Version:  env.Version,
		Logger:   d.log,
	})
	for _, s := range sinks {
		b, err := d.newBreaker(ctx, s.Name(), sinkBreakerSettings(cfg, s.Name()))
		if err != nil {
			st.Close()
			return nil, err
		}
		w := deliver.NewWorker(deliver.WorkerOptions{
			Sink:            s,
			Outbox:          st,
			Breaker:         b,
			Timeout:         sinkTimeout(cfg, s.Name()),
			RetryInitial:    cfg.Delivery.RetryInitial.Duration,
			RetryMax:        cfg.Delivery.RetryMax.Duration,
			RetryBudget:     cfg.Delivery.RetryBudget.Duration,
			ShutdownTimeout: cfg.Delivery.ShutdownTimeout.Duration,
			Logger:          d.log,
			Observer:        d.metrics,
		})
		d.workers[s.Name()] = w
	}
	ws := make([]*deliver.Worker, 0, len(names))
	for _, n := range names {
		ws = append(ws, d.workers[n])
	}
	d.disp = deliver.New(ws...)

	m, err := newMatcher(cfg)
	if err != nil {
		st.Close()
		return nil, &configError{err}
	}
	var seen func(*pipeline.ChatMessage, string, time.Time) bool
	if cfg.Kick.Webhook.Enabled && (len(cfg.Kick.Channels) > 0 || cfg.DemoMode()) {
		// The socket and the webhooks may both carry a message, maybe not
		// under the same id: drop the second copy (see README).
		seen = kickhook.NewDedupe(kickhook.DedupeOptions{}).Seen
	}
	d.ingest = ingest.New(ingest.Options{
		Outbox:      st,
		Matcher:     m,
		Wake:        d.disp.Wake,
		BatchWindow: cfg.Delivery.BatchWindow.Duration,
		Buffer:      cfg.Delivery.Buffer,
		Logger:      d.log,
		Seen:        seen,
	})
	src, err := newSource(ctx, d)
	if err != nil {
		st.Close()
		return nil, err
	}
	d.source = src
	d.ingest.Resize(ingest.BufferFor(cfg.Delivery.Buffer, max(1, len(src.channels()))))
	if d.webhook, err = d.newWebhookRx(cfg); err != nil {
		st.Close()
		return nil, err
	}

	if cfg.HTTP.Listen != "" {
		ln, err := net.Listen("tcp", cfg.HTTP.Listen)
		if err != nil {
			st.Close()
			return nil, fmt.Errorf("listen on http.listen %s: %w", cfg.HTTP.Listen, err)
		}
		d.httpLn = ln
		d.http = &http.Server{Handler: d.handler(), ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second, MaxHeaderBytes: 64 << 10}
	}
	return d, nil
}

func openStore(ctx context.Context, cfg *config.Config, sinks []string) (*store.Store, error) {
	st, err := store.Open(ctx, cfg.Store.Path, store.Options{
		Synchronous:   string(cfg.Store.Synchronous),
		CapPerChannel: cfg.Store.OutboxCapPerChannel,
		CapTotal:      cfg.Store.OutboxCapTotal,
		Sinks:         sinks,
		BusyTimeout:   cfg.Store.BusyTimeout.Duration,
	})
	if err != nil {
		return nil, err
	}
	return st, nil
}

// newBreaker builds a breaker whose transitions are saved in the store, and
// restores its last saved state.
func (d *daemon) newBreaker(ctx context.Context, name string, s breaker.Settings) (*breaker.Breaker, error) {
	log := d.log.With("component", "breaker", "breaker", name)
	s.Name = name
	s.OnStateChange = func(from, to breaker.State, snap breaker.Snapshot) {
		log.Warn("circuit breaker "+to.String(), "from", from.String(), "failures", snap.Failures)
		if err := d.store.SaveBreaker(context.Background(), snap); err != nil {
			log.Error("save breaker state", "error", err)
		}
	}
	b := breaker.New(s)
	snap, ok, err := d.store.LoadBreaker(ctx, name)
	if err != nil {
		return nil, err
	}
	if ok {
		b.Restore(snap)
		if snap.State != breaker.Closed {
			args := []any{"state", b.State().String()}
			if at := b.ReadyAt(); !at.IsZero() {
				args = append(args, "ready_at", at.Format(time.RFC3339))
			}
			log.Info("circuit breaker restored", args...)
		}
	}
	d.bmu.Lock()
	d.breakers[name] = b
	d.bmu.Unlock()
	return b, nil
}

func sinkBreakerSettings(cfg *config.Config, sink string) breaker.Settings {
	switch sink {
	case "discord":
		return breaker.Settings{FailureThreshold: cfg.Discord.FailureThreshold, RecoveryTimeout: cfg.Discord.RecoveryTimeout.Duration}
	case "remote_db":
		return breaker.Settings{FailureThreshold: cfg.RemoteDB.FailureThreshold, RecoveryTimeout: cfg.RemoteDB.RecoveryTimeout.Duration}
	}
	return breaker.Settings{}
}

func sinkTimeout(cfg *config.Config, sink string) time.Duration {
	switch sink {
	case "discord":
		return cfg.Discord.Timeout.Duration
	case "remote_db":
		return cfg.RemoteDB.Timeout.Duration
	}
	return 5 * time.Second
}

// newMatcher builds the matcher from [kick] and [match].
func newMatcher(cfg *config.Config) (*match.Matcher, error) {
	rules := make([]match.Rule, 0, len(cfg.Match.Rules))
	for _, r := range cfg.Match.Rules {
		rules = append(rules, match.Rule{Name: r.Name, Keyword: r.Keyword, Regex: r.Regex, CaseSensitive: r.CaseSensitive,
			Channels: r.Channels, ExcludeChannels: r.ExcludeChannels})
	}
	return match.New(match.Options{
		Username:      cfg.Kick.Username,
		UserID:        cfg.Kick.UserID,
		Aliases:       cfg.Kick.Aliases,
		BareNames:     cfg.Match.BareNames,
		IgnoreSenders: cfg.Match.IgnoreSenders,
		Cooldown:      cfg.Match.Cooldown.Duration,
		Rules:         rules,
	})
}

// run runs every component until ctx is done, then shuts down in order:
// stop reading chat → store what was read → drain deliveries under the
// shutdown timeout → close the HTTP listener → close the store.
func (d *daemon) run(ctx context.Context) error {
	d.explain()
	var wg sync.WaitGroup
	goRun := func(name string, f func(context.Context) error, c context.Context) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(c); err != nil && !errors.Is(err, context.Canceled) {
				d.log.Error(name+" stopped", "error", err)
			}
		}()
	}
	// Each stage has its own context so they stop in order.
	srcCtx, stopSource := context.WithCancel(context.WithoutCancel(ctx))
	ingCtx, stopIngest := context.WithCancel(context.WithoutCancel(ctx))
	dspCtx, stopDeliver := context.WithCancel(context.WithoutCancel(ctx))
	auxCtx, stopAux := context.WithCancel(context.WithoutCancel(ctx))
	defer func() { stopSource(); stopIngest(); stopDeliver(); stopAux() }()

	var dispWG, ingWG, srcWG sync.WaitGroup
	dispWG.Add(1)
	go func() { defer dispWG.Done(); d.disp.Run(dspCtx) }()
	ingWG.Add(1)
	go func() { defer ingWG.Done(); d.ingest.Run(ingCtx) }()
	srcWG.Add(1)
	go func() { defer srcWG.Done(); d.source.run(srcCtx) }()
	if d.webhook != nil {
		srcWG.Add(1)
		go func() { defer srcWG.Done(); d.webhook.serve(d.log, d.config().Kick.Webhook.Path) }()
	}
	goRun("history pruner", d.prune, auxCtx)
	if d.http != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := d.http.Serve(d.httpLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
				d.log.Error("http listener stopped", "error", err)
			}
		}()
		d.log.Info("http listener up", "addr", d.httpLn.Addr().String(), "endpoints", "/ /healthz /readyz /metrics")
	}

	goRun("silence alarm", d.watchSilence, auxCtx)
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-d.env.Reload:
			d.log.Info("reloading the config")
			d.reload(ctx)
		}
	}
	d.log.Info("shutting down: stopping chat sources")
	stopSource()
	if d.webhook != nil {
		// Requests in flight finish (their mentions are committed) first.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
		d.webhook.srv.Shutdown(sctx)
		cancel()
	}
	srcWG.Wait()
	d.log.Info("storing mentions still in flight")
	stopIngest()
	ingWG.Wait()
	d.log.Info("finishing deliveries in flight", "timeout", d.config().Delivery.ShutdownTimeout.Duration)
	stopDeliver()
	dispWG.Wait()
	stopAux()
	if d.http != nil {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		d.http.Shutdown(sctx)
		cancel()
	}
	wg.Wait()
	if err := d.store.Close(); err != nil {
		return err
	}
	d.log.Info("stopped")
	return nil
}

// explain says plainly what is and is not configured.
func (d *daemon) explain() {
	cfg := d.config()
	if d.source.demo != nil {
		d.log.Info("demo mode: reading a scripted chat from the built-in fake Kick server; configure [[kick.channels]] and set kick.demo = false for real chat",
			"channel", "demo", "user", cfg.Kick.Username)
	} else if len(cfg.Kick.Channels) == 0 {
		d.log.Warn("no Kick channels configured: add [[kick.channels]] entries to the config; nothing will be read")
	}
	if cfg.Kick.Username == "" && len(cfg.Match.Rules) == 0 {
		d.log.Warn("kick.username is not set and there are no [[match.rules]]: nothing can match")
	}
	if !cfg.DiscordEnabled() {
		d.log.Info("discord sink off: set discord.webhook_url (or KICKWATCH_DISCORD_WEBHOOK_URL) to enable it")
	}
	if !cfg.RemoteDBEnabled() {
		d.log.Info("remote_db sink off: set remote_db.url and remote_db.api_key to enable it")
	}
	if cfg.ConsoleEnabled() {
		d.log.Info("console sink on: delivered mentions are printed to standard output")
	}
	if w := publicWithoutAuth(cfg); w != "" {
		d.log.Warn(w)
	}
}

func (d *daemon) prune(ctx context.Context) error {
	t := time.NewTicker(pruneEvery)
	defer t.Stop()
	for {
		days := d.config().Store.HistoryDays
		before := time.Now().Add(-time.Duration(days) * 24 * time.Hour)
		n, err := d.store.Prune(ctx, before)
		switch {
		case err != nil && ctx.Err() == nil:
			d.log.Warn("prune history", "error", err)
		case n > 0:
			d.log.Info("pruned history", "mentions", n, "older_than_days", days)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

var _ pipeline.Handler = (*ingest.Ingest)(nil)
