package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"kickwatch/pipeline/discord/discordfake"
	"kickwatch/pipeline/e2e"
)

// watchedUser is the kick.username of every run.
const watchedUser = "loadgen_user"

// postgrestKey is the API key the PostgREST fake accepts.
const postgrestKey = "loadgen-anon-key"

// rig is one run's binary, fakes and daemon.
type rig struct {
	o        options
	dir      string
	bin      string
	binSize  int64
	channels []e2e.Channel
	track    *tracker
	kick     *e2e.KickServer
	discord  *discordSide
	dgate    *e2e.Gate // in front of Discord when the run needs an outage
	pg       *postgrestFake
	pgate    *e2e.Gate
	sinks    []string
	daemon   e2e.Daemon
	proc     *e2e.Process
	outbox   *outboxReader
	startup  time.Duration

	stopSampler context.CancelFunc
	samplerDone chan struct{}
	mu          sync.Mutex
	samples     []sample
}

// sample is one reading of the daemon during a run.
type sample struct {
	procSample
	Depth depth
	Err   string
}

// newRig builds (or takes) the binary, starts the fakes and writes the
// config. discordOpts are the Discord fake's limits; gates puts an
// outage-capable gate in front of each sink.
func newRig(ctx context.Context, o options, discordOpts discordfake.Options, gates bool) (*rig, error) {
	r := &rig{o: o, track: newTracker()}
	dir, err := os.MkdirTemp("", "kickwatch-loadgen-")
	if err != nil {
		return nil, fmt.Errorf("work dir: %w", err)
	}
	r.dir = dir
	if r.bin, err = releaseBinary(ctx, o.bin, dir); err != nil {
		r.close()
		return nil, err
	}
	st, err := os.Stat(r.bin)
	if err != nil {
		r.close()
		return nil, fmt.Errorf("stat binary: %w", err)
	}
	r.binSize = st.Size()
	for i := range o.channels {
		r.channels = append(r.channels, e2e.Channel{Slug: fmt.Sprintf("loadch%02d", i), ChatroomID: int64(90000 + i)})
	}
	r.kick = e2e.NewKickServer(slog.New(slog.DiscardHandler))
	r.discord = newDiscordSide(discordOpts, r.track)
	discordURL := r.discord.fake.WebhookURL()
	if gates {
		if r.dgate, err = e2e.NewGate(r.discord.fake.URL()); err != nil {
			r.close()
			return nil, err
		}
		discordURL = r.dgate.URL() + discordURL[len(r.discord.fake.URL()):]
	}
	set := e2e.Settings{
		Username: watchedUser, Channels: r.channels, KickURL: r.kick.URL(),
		DiscordURL: discordURL, DiscordTimeout: 12 * time.Second,
		// kickwatch's shipped breaker and retry settings, not e2e's fast ones.
		FailureThreshold: 5, RecoveryTimeout: 60 * time.Second, RetryInitial: time.Second, RetryMax: 60 * time.Second,
		StorePath: filepath.Join(dir, "kickwatch.db"), Synchronous: o.sync,
		CapPerChannel: o.capPerChannel, CapTotal: o.capTotal, BatchWindow: o.batchWindow,
		ShutdownTimeout: 10 * time.Second, LogLevel: "info",
	}
	r.sinks = []string{"discord"}
	switch o.postgrest {
	case "off":
	case "fake":
		r.pg = newPostgRESTFake(postgrestKey)
		set.RemoteDBURL, set.RemoteDBKey = r.pg.URL(), postgrestKey
	case "env":
		set.RemoteDBURL, set.RemoteDBKey = os.Getenv("KICKWATCH_TEST_POSTGREST_URL")+"/", os.Getenv("KICKWATCH_TEST_POSTGREST_KEY")
		if set.RemoteDBURL == "/" {
			r.close()
			return nil, errors.New("-postgrest env: KICKWATCH_TEST_POSTGREST_URL is not set (run under testdata/with-services.sh)")
		}
	default:
		r.close()
		return nil, fmt.Errorf("-postgrest %q: want fake, off or env", o.postgrest)
	}
	if set.RemoteDBURL != "" {
		r.sinks = append(r.sinks, "remote_db")
		if gates {
			target := set.RemoteDBURL
			if r.pgate, err = e2e.NewGate(baseURL(target)); err != nil {
				r.close()
				return nil, err
			}
			set.RemoteDBURL = r.pgate.URL() + target[len(baseURL(target)):]
		}
	}
	cfg := filepath.Join(dir, "kickwatch.toml")
	if err := e2e.WriteConfig(cfg, set); err != nil {
		r.close()
		return nil, err
	}
	var tee io.Writer
	if o.verbose {
		tee = os.Stderr
	}
	r.daemon = e2e.Daemon{Binary: r.bin, Config: cfg, Dir: dir, Tee: tee}
	return r, nil
}

// startRig builds a rig, starts the daemon and reports its footprint
// (binary size, startup time). The caller closes the rig.
func startRig(ctx context.Context, o options, limits discordfake.Options, gates bool, rep *report) (*rig, error) {
	r, err := newRig(ctx, o, limits, gates)
	if err != nil {
		return nil, err
	}
	if err := r.start(ctx); err != nil {
		r.close()
		return nil, err
	}
	footprint(rep, r)
	return r, nil
}

// baseURL is scheme://host of raw.
func baseURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	return u.Scheme + "://" + u.Host
}

// releaseBinary returns bin, or builds kickwatch into dir the way `make
// build` does (CGO_ENABLED=0, -trimpath, -s -w), so its size is the release's.
func releaseBinary(ctx context.Context, bin, dir string) (string, error) {
	if bin != "" {
		return bin, nil
	}
	root, err := e2e.ModuleRoot(ctx)
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, "kickwatch")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-s -w -X main.version=loadgen", "-o", out, ".")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build kickwatch: %w\n%s", err, buf.Bytes())
	}
	return out, nil
}

// start starts the daemon and waits until every channel is subscribed; the
// time that takes is the startup figure.
func (r *rig) start(ctx context.Context) error {
	p, err := r.daemon.Start(ctx)
	if err != nil {
		return err
	}
	r.proc = p
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := r.kick.WaitAllSubscribed(wctx, r.channels); err != nil {
		return fmt.Errorf("wait for subscriptions: %w\n%s", err, tail(p.Logs.String(), 4000))
	}
	r.startup = time.Since(p.Started())
	if r.outbox, err = openOutbox(filepath.Join(r.dir, "kickwatch.db"), r.sinks); err != nil {
		return err
	}
	// The first sample is taken here, so even a run that ends before the
	// sampler's first tick has one.
	r.sampleOnce(ctx)
	sctx, stop := context.WithCancel(ctx)
	r.stopSampler, r.samplerDone = stop, make(chan struct{})
	go r.sample(sctx)
	return nil
}

// sample reads the daemon's memory, CPU and outbox depth every o.sample.
func (r *rig) sample(ctx context.Context) {
	defer close(r.samplerDone)
	t := time.NewTicker(r.o.sample)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.sampleOnce(ctx)
		}
	}
}

// sampleOnce reads the daemon's memory, CPU and outbox depth once.
func (r *rig) sampleOnce(ctx context.Context) {
	s := sample{}
	ps, err := readProc(r.proc.Pid())
	s.procSample = ps
	if err == nil {
		dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		s.Depth, err = r.outbox.depth(dctx)
		cancel()
	}
	if err != nil && ctx.Err() == nil {
		s.Err = err.Error()
	}
	r.mu.Lock()
	r.samples = append(r.samples, s)
	r.mu.Unlock()
}

// series returns the samples taken so far.
func (r *rig) series() []sample {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]sample(nil), r.samples...)
}

// stop ends the sampler, then stops the daemon with SIGTERM (as systemd
// does) and returns its exit code.
func (r *rig) stop(ctx context.Context) (int, error) {
	if r.stopSampler != nil {
		r.stopSampler()
		<-r.samplerDone
		r.stopSampler = nil
	}
	if r.proc == nil {
		return 0, nil
	}
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return r.proc.Stop(sctx)
}

// close releases everything; the work directory goes unless -keep.
func (r *rig) close() {
	if r.stopSampler != nil {
		r.stopSampler()
		<-r.samplerDone
	}
	if r.proc != nil {
		r.proc.Close()
	}
	if r.outbox != nil {
		r.outbox.Close()
	}
	if r.kick != nil {
		r.kick.Close()
	}
	if r.dgate != nil {
		r.dgate.Close()
	}
	if r.pgate != nil {
		r.pgate.Close()
	}
	if r.discord != nil {
		r.discord.fake.Close()
	}
	if r.pg != nil {
		r.pg.Close()
	}
	if r.dir != "" && !r.o.keep {
		os.RemoveAll(r.dir)
	} else if r.dir != "" {
		fmt.Fprintf(os.Stderr, "loadgen: work directory kept: %s\n", r.dir)
	}
}

// waitDelivered waits until every mention sent so far has reached Discord,
// or d has passed.
func (r *rig) waitDelivered(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		sent, got, changed := r.track.counts()
		if got >= sent {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
			return false
		case <-changed:
		}
	}
}

// wait waits d or until ctx is done; it reports false when ctx is done.
func wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
