package app

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"kickwatch/breaker"
	"kickwatch/pipeline"
	"kickwatch/pipeline/centrifugo"
	"kickwatch/pipeline/config"
	"kickwatch/pipeline/kick"
	"kickwatch/pipeline/kick/kickfake"
	"kickwatch/store"
)

// Demo mode's channel: the scripted chat in testdata/demo/chat.jsonl.
const (
	demoSlug       = "demo"
	demoChatroomID = 1000
	// demoFrameEvery paces the scripted chat so a person can follow it.
	demoFrameEvery = 700 * time.Millisecond
)

// resolveRetry bounds the wait between lookups of a channel Kick would not
// resolve; the others run meanwhile.
const (
	resolveRetryMin = 30 * time.Second
	resolveRetryMax = 30 * time.Minute
)

// source owns the chat side: the channel list (resolving slugs to ids), the
// transport, and in demo mode the fake Kick server.
type source struct {
	d         *daemon
	transport pipeline.Transport
	resolver  *kick.Resolver
	demo      *demoServer

	mu         sync.Mutex
	resolved   []pipeline.Channel
	unresolved []config.Channel
	runCtx     context.Context // set by run: resolve loops started later use it
	loops      sync.WaitGroup  // resolve loops
}

func newSource(ctx context.Context, d *daemon) (*source, error) {
	cfg := d.cfg
	s := &source{d: d}
	s.resolver = kick.NewResolver(kick.ResolverOptions{APIURL: cfg.Kick.APIURL, Timeout: cfg.Kick.ResolveTimeout.Duration})
	wsURL := cfg.Kick.WSURL
	if cfg.DemoMode() {
		demo, err := startDemo(d)
		if err != nil {
			return nil, err
		}
		s.demo = demo
		wsURL = demo.socketURL
		s.resolved = []pipeline.Channel{{Slug: demoSlug, ChatroomID: demoChatroomID}}
	} else {
		var err error
		s.resolved, s.unresolved, err = s.lookup(ctx, cfg.Kick.Channels)
		if err != nil {
			return nil, err
		}
	}
	b, err := d.newBreaker(ctx, "kick", breaker.Settings{
		FailureThreshold: cfg.Kick.FailureThreshold, RecoveryTimeout: cfg.Kick.RecoveryTimeout.Duration})
	if err != nil {
		return nil, err
	}
	pusher := func() pipeline.Transport {
		return kick.New(kick.Options{
			URL:            wsURL,
			ConnectTimeout: cfg.Kick.ConnectTimeout.Duration,
			PingInterval:   cfg.Kick.PingInterval.Duration,
			PongTimeout:    cfg.Kick.PongTimeout.Duration,
			MaxFrameBytes:  int64(cfg.Kick.MaxFrameBytes),
			Breaker:        b,
			Logger:         d.log,
		})
	}
	if s.demo != nil || len(cfg.Kick.Channels) == 0 {
		s.transport = pusher() // the demo's fake speaks Pusher
	} else {
		opts := centrifugo.Options{
			Mode:        string(cfg.Kick.Transport),
			RealtimeURL: cfg.Kick.RealtimeURL,
			Channels:    s.channels(),
			Config: centrifugo.Config{
				ReadLimit:      int64(cfg.Kick.MaxFrameBytes),
				ConnectTimeout: cfg.Kick.ConnectTimeout.Duration,
				Breaker:        b,
				Logger:         d.log,
			},
		}
		choice, err := centrifugo.Select(ctx, opts)
		switch {
		case err != nil:
			return nil, fmt.Errorf("choose the chat transport: %w", err)
		case choice.Transport != nil:
			s.transport = choice.Transport
		case errors.Is(choice.Reason, centrifugo.ErrNegotiation):
			// A failed negotiation may be passing (the line is down):
			// read Pusher meanwhile and keep asking.
			s.transport = &autoTransport{log: d.log, every: renegotiateEvery, current: pusher(),
				negotiate: func(ctx context.Context, chs []pipeline.Channel) pipeline.Transport {
					o := opts
					o.Channels = chs
					c, err := centrifugo.Select(ctx, o)
					if err != nil || c.Transport == nil {
						return nil
					}
					return c.Transport
				}}
		default:
			s.transport = pusher()
		}
	}
	chs := s.channels()
	s.transport.SetChannels(chs)
	d.ingest.SetChannels(chs)
	return s, nil
}

// lookup splits chans into those whose chatroom id is known (from the
// config or the store's cache) and those still to resolve.
func (s *source) lookup(ctx context.Context, chans []config.Channel) (resolved []pipeline.Channel, unresolved []config.Channel, err error) {
	for _, c := range chans {
		ch := pipeline.Channel{Slug: c.Slug, ChatroomID: c.ChatroomID, ChannelID: c.ChannelID}
		if ch.ChatroomID == 0 {
			cached, ok, err := s.d.store.Channel(ctx, c.Slug)
			if err != nil {
				return nil, nil, err
			}
			if ok {
				ch.ChatroomID = cached.ChatroomID
				if ch.ChannelID == 0 {
					ch.ChannelID = cached.ChannelID
				}
			}
		}
		if ch.ChatroomID == 0 {
			unresolved = append(unresolved, c)
			continue
		}
		resolved = append(resolved, ch)
	}
	return resolved, unresolved, nil
}

// reconfigure switches to a new channel list on the live socket: channels
// that stay keep their subscription, new ones are subscribed (or resolved
// first), removed ones are unsubscribed.
func (s *source) reconfigure(ctx context.Context, chans []config.Channel) error {
	if s.demo != nil {
		return errors.New("demo mode reads only the demo channel; restart to leave demo mode")
	}
	resolved, unresolved, err := s.lookup(ctx, chans)
	if err != nil {
		return err
	}
	s.mu.Lock()
	pending := map[string]bool{}
	for _, c := range s.unresolved {
		pending[c.Slug] = true
	}
	s.resolved, s.unresolved = resolved, unresolved
	runCtx := s.runCtx
	chs := slices.Clone(s.resolved)
	s.mu.Unlock()
	s.d.ingest.SetChannels(chs)
	s.transport.SetChannels(chs)
	for _, c := range unresolved {
		if pending[c.Slug] || runCtx == nil {
			continue // its loop runs already, or run will start it
		}
		s.loops.Add(1)
		go func() { defer s.loops.Done(); s.resolveLoop(runCtx, c) }()
	}
	return nil
}

// channels returns the channels with known chatroom ids.
func (s *source) channels() []pipeline.Channel {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.resolved)
}

// run reads chat until ctx is done.
func (s *source) run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	if s.demo != nil {
		wg.Add(1)
		go func() { defer wg.Done(); s.demo.run(ctx) }()
	}
	defer s.loops.Wait()
	s.mu.Lock()
	s.runCtx = ctx
	pending := slices.Clone(s.unresolved)
	s.mu.Unlock()
	for _, c := range pending {
		s.loops.Add(1)
		go func() { defer s.loops.Done(); s.resolveLoop(ctx, c) }()
	}
	if err := s.transport.Run(ctx, s.d.ingest); err != nil && !errors.Is(err, context.Canceled) {
		s.d.log.Error("chat transport stopped", "error", err)
	}
}

// resolveLoop looks c up until it resolves or ctx is done; the other
// channels run meanwhile.
func (s *source) resolveLoop(ctx context.Context, c config.Channel) {
	log := s.d.log.With("component", "resolve", "channel", c.Slug)
	wait := resolveRetryMin
	for {
		ch, err := s.resolver.Resolve(ctx, c.Slug)
		if err == nil {
			if c.ChannelID != 0 {
				ch.ChannelID = c.ChannelID
			}
			ch.Slug = c.Slug
			if err := s.d.store.SaveChannel(ctx, store.ChannelIDs{Slug: c.Slug, ChatroomID: ch.ChatroomID, ChannelID: ch.ChannelID}); err != nil {
				log.Warn("cache chatroom id", "error", err)
			}
			s.mu.Lock()
			wanted := slices.ContainsFunc(s.unresolved, func(u config.Channel) bool { return u.Slug == c.Slug })
			if wanted {
				s.resolved = append(s.resolved, ch)
				s.unresolved = slices.DeleteFunc(s.unresolved, func(u config.Channel) bool { return u.Slug == c.Slug })
			}
			chs := slices.Clone(s.resolved)
			s.mu.Unlock()
			if !wanted {
				return // removed from the config meanwhile
			}
			s.d.ingest.SetChannels(chs)
			s.transport.SetChannels(chs)
			log.Info("channel resolved", "chatroom_id", ch.ChatroomID, "channel_id", ch.ChannelID)
			return
		}
		if ctx.Err() != nil {
			return
		}
		s.mu.Lock()
		wanted := slices.ContainsFunc(s.unresolved, func(u config.Channel) bool { return u.Slug == c.Slug })
		s.mu.Unlock()
		if !wanted {
			return
		}
		log.Warn("resolve channel; retrying", "error", err, "retry_in", wait)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		wait = min(wait*2, resolveRetryMax)
	}
}

// unresolvedSlugs lists channels still waiting for a chatroom id.
func (s *source) unresolvedSlugs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, c := range s.unresolved {
		out = append(out, c.Slug)
	}
	return out
}

// demoServer is the embedded fake Kick server playing the scripted chat.
type demoServer struct {
	fake      *kickfake.Server
	srv       *http.Server
	ln        net.Listener
	socketURL string
	frames    [][]byte
	d         *daemon
}

func startDemo(d *daemon) (*demoServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	fake := kickfake.New(kickfake.Options{Logger: d.log})
	base := "http://" + ln.Addr().String()
	ds := &demoServer{fake: fake, ln: ln, socketURL: fake.SocketURL(base), d: d,
		srv: &http.Server{Handler: fake.Handler(), ReadHeaderTimeout: 10 * time.Second}}
	sc := bufio.NewScanner(bytes.NewReader(d.env.DemoChat))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		ds.frames = append(ds.frames, bytes.Clone(line))
	}
	return ds, nil
}

// run serves the fake and plays the script once the client has subscribed.
func (ds *demoServer) run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Add(1)
	go func() {
		defer wg.Done()
		ds.srv.Serve(ds.ln)
	}()
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		ds.srv.Shutdown(sctx)
		cancel()
	}()
	if err := ds.fake.WaitSubscribed(ctx, demoChatroomID); err != nil {
		return
	}
	pace := ds.d.env.DemoPace
	if pace <= 0 {
		pace = demoFrameEvery
	}
	t := time.NewTicker(pace)
	defer t.Stop()
	for _, f := range ds.frames {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		ds.fake.PublishFrame(f)
	}
	ds.d.log.Info("demo chat finished; press Ctrl-C to stop (run 'kickwatch history' to list what was caught)")
}
