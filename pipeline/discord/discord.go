// Package discord is kickwatch's Discord webhook sink: it renders mentions as
// embeds, coalesces a backlog into requests of up to 10 embeds, paces itself
// by Discord's rate-limit headers and classifies every answer (reference
// discord-and-postgrest.md part A).
package discord

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"kickwatch/pipeline"
)

// DefaultTimeout bounds one request: Discord usually answers in well under a
// second, and the dispatcher gives the Discord sink 12 s.
const DefaultTimeout = 12 * time.Second

// userAgent follows Discord's required "DiscordBot ($url, $versionNumber)"
// form; requests without one may be blocked by Cloudflare (reference A1).
const userAgent = "DiscordBot (https://github.com/kickwatch/kickwatch, 1)"

// Options configures a Sink. Zero values take the documented defaults.
type Options struct {
	// WebhookURL is https://discord.com/api/webhooks/{id}/{token} (discordapp,
	// ptb and canary hosts and /api/vN paths work too; a thread_id query is
	// kept), or any http(s) URL on a loopback host for tests.
	WebhookURL string
	// Timeout bounds each request, on top of the caller's ctx. Default 12 s.
	Timeout time.Duration
	// Username overrides the webhook's name on every message. Optional;
	// 1–80 characters, and Discord refuses "discord", "clyde", "here" and
	// "everyone" in it.
	Username string
	// HTTPClient is used for requests (copied; redirects are never followed).
	// Default: a client with its own transport.
	HTTPClient *http.Client
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Sleep waits d or until ctx is done, returning ctx's error then. It paces
	// sends when Discord says the bucket is empty. Default: a timer. Tests
	// inject one that advances a fake clock.
	Sleep func(ctx context.Context, d time.Duration) error
	// Logger receives the sink's log lines. Default slog.Default().
	Logger *slog.Logger
}

// Sink delivers mentions to one Discord webhook. It is safe for concurrent
// use; requests are sent one at a time, as Discord's per-webhook buckets need.
type Sink struct {
	timeout  time.Duration
	username string
	client   *http.Client
	now      func() time.Time
	sleep    func(context.Context, time.Duration) error
	log      *slog.Logger
	sem      chan struct{} // one Deliver at a time

	mu          sync.Mutex
	hook        webhook
	blocked     error     // set by 401/403/404: no request until reconfigured
	pacedUntil  time.Time // bucket empty (Remaining 0): next send waits
	hookPause   time.Time // a 429 for this webhook
	globalPause time.Time // a global or Cloudflare 429: everything waits
	winStart    time.Time // start of the current invalid-request window
	winCount    int       // 401/403/counted 429s in that window
	stats       Stats
}

// Stats counts what the sink sent and what Discord answered.
type Stats struct {
	Requests      uint64 // HTTP requests sent
	Delivered     uint64 // mentions Discord accepted
	Status401     uint64
	Status403     uint64
	Status404     uint64
	Status429     uint64 // every 429, all scopes
	Shared429     uint64 // scope "shared": not counted against the ban threshold
	Global429     uint64
	Cloudflare429 uint64 // non-JSON 429: Cloudflare block (error 1015)
	// Invalid counts 401, 403 and non-shared 429 answers, which Discord bans
	// at 10,000 per 10 minutes per IP; InvalidWindow is the count in the
	// current 10-minute window.
	Invalid       uint64
	InvalidWindow int
	Paced         uint64 // sends delayed because the bucket was empty
	Refused       uint64 // Deliver calls answered without a request (blocked or paused)
	Timeouts      uint64
}

// New validates o and returns a Sink. Its errors never contain the webhook
// URL or token.
func New(o Options) (*Sink, error) {
	hook, err := parseWebhook(o.WebhookURL)
	if err != nil {
		return nil, err
	}
	if err := checkUsername(o.Username); err != nil {
		return nil, err
	}
	s := &Sink{
		timeout:  o.Timeout,
		username: strings.TrimSpace(o.Username),
		now:      o.Now,
		sleep:    o.Sleep,
		log:      o.Logger,
		sem:      make(chan struct{}, 1),
		hook:     hook,
	}
	if s.timeout <= 0 {
		s.timeout = DefaultTimeout
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.sleep == nil {
		s.sleep = sleepCtx
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.log = s.log.With("component", "discord")
	if o.HTTPClient != nil {
		c := *o.HTTPClient
		s.client = &c
	} else {
		s.client = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	}
	s.client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return s, nil
}

// checkUsername applies Discord's name rules to the username override
// (reference A3), so a bad config fails at start, not as a 400 per message.
func checkUsername(u string) error {
	if u == "" {
		return nil
	}
	u = strings.TrimSpace(u)
	l := strings.ToLower(u)
	n := utf8.RuneCountInString(u)
	switch {
	case n < 1 || n > 80:
		return errors.New("invalid discord username: must be 1 to 80 characters")
	case strings.Contains(l, "discord") || strings.Contains(l, "clyde"):
		return errors.New(`invalid discord username: must not contain "discord" or "clyde"`)
	case l == "here" || l == "everyone":
		return errors.New(`invalid discord username: must not be "here" or "everyone"`)
	}
	return nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Name implements pipeline.Sink.
func (s *Sink) Name() string { return "discord" }

// MaxBatch implements pipeline.Sink: one message carries up to 10 embeds.
func (s *Sink) MaxBatch() int { return maxEmbeds }

// Stats returns the sink's counters.
func (s *Sink) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	if s.now().Sub(s.winStart) >= invalidWindow {
		st.InvalidWindow = 0
	} else {
		st.InvalidWindow = s.winCount
	}
	return st
}

// SetWebhookURL switches to another webhook (live config reload). It clears
// the block left by a 401/403/404 and the old webhook's rate-limit state;
// a global or Cloudflare pause stays, as it applies to this IP.
func (s *Sink) SetWebhookURL(raw string) error {
	hook, err := parseWebhook(raw)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hook = hook
	s.blocked = nil
	s.pacedUntil = time.Time{}
	s.hookPause = time.Time{}
	return nil
}

// Deliver implements pipeline.Sink. It renders ms, packs them into as few
// requests as the limits allow and sends those in order. A mention gets its
// request's result; once a request fails (other than a bad payload), the
// mentions after it are not sent and get the same outcome.
func (s *Sink) Deliver(ctx context.Context, ms []pipeline.Mention) []pipeline.Result {
	res := make([]pipeline.Result, len(ms))
	if len(ms) == 0 {
		return res
	}
	select {
	case s.sem <- struct{}{}:
		defer func() { <-s.sem }()
	case <-ctx.Done():
		fill(res, pipeline.Result{Outcome: pipeline.Retry, Err: fmt.Errorf("deliver to discord: %w", ctx.Err())})
		return res
	}
	embeds := make([]embed, len(ms))
	sizes := make([]int, len(ms))
	for i := range ms {
		embeds[i] = renderEmbed(&ms[i])
		sizes[i] = embeds[i].size()
	}
	lo := 0
	for _, hi := range pack(sizes) {
		if h := s.sendRange(ctx, embeds, lo, hi, res); h != nil {
			fill(res[hi:], notSent(h))
			break
		}
		lo = hi
	}
	return res
}

// sendRange sends embeds[lo:hi] as one message and records the results. A
// 400 on several embeds is split in halves to find the bad ones. It returns
// the halting result when the rest of the batch must not be sent.
func (s *Sink) sendRange(ctx context.Context, embeds []embed, lo, hi int, res []pipeline.Result) *pipeline.Result {
	if h := s.gate(ctx); h != nil {
		fill(res[lo:hi], *h)
		return h
	}
	a := s.post(ctx, embeds[lo:hi])
	if a.split && hi-lo > 1 {
		mid := (lo + hi) / 2
		if h := s.sendRange(ctx, embeds, lo, mid, res); h != nil {
			fill(res[mid:hi], notSent(h))
			return h
		}
		return s.sendRange(ctx, embeds, mid, hi, res)
	}
	fill(res[lo:hi], a.res)
	if a.halt {
		return &a.res
	}
	return nil
}

func fill(res []pipeline.Result, r pipeline.Result) {
	for i := range res {
		res[i] = r
	}
}

// notSent is the result for mentions behind a halting request.
func notSent(h *pipeline.Result) pipeline.Result {
	return pipeline.Result{Outcome: h.Outcome, RetryAfter: h.RetryAfter, Err: fmt.Errorf("not sent: %w", h.Err)}
}

// gate decides whether a request may go now. It refuses while the webhook is
// blocked or paused, and waits (on ctx) for an empty bucket to reset.
func (s *Sink) gate(ctx context.Context) *pipeline.Result {
	s.mu.Lock()
	now := s.now()
	if s.blocked != nil {
		s.stats.Refused++
		err := s.blocked
		s.mu.Unlock()
		return &pipeline.Result{Outcome: pipeline.Misconfigured, Err: err}
	}
	if s.winCount >= invalidBudget && now.Sub(s.winStart) < invalidWindow {
		s.stats.Refused++
		wait := s.winStart.Add(invalidWindow).Sub(now)
		s.mu.Unlock()
		return rateLimited(wait, errors.New("too many rejected discord requests in 10 minutes: holding back to avoid an IP ban"))
	}
	if until := later(s.hookPause, s.globalPause); now.Before(until) {
		s.stats.Refused++
		s.mu.Unlock()
		return rateLimited(until.Sub(now), errors.New("discord rate limit: paused"))
	}
	wait := s.pacedUntil.Sub(now)
	if wait > 0 {
		s.stats.Paced++
	}
	s.mu.Unlock()
	if wait <= 0 {
		return nil
	}
	// ctx deadlines are on the real clock, whatever s.now is.
	if dl, ok := ctx.Deadline(); wait > maxPaceWait || (ok && time.Until(dl) < wait) {
		return rateLimited(wait, errors.New("discord rate limit: bucket empty"))
	}
	if err := s.sleep(ctx, wait); err != nil {
		return rateLimited(wait, fmt.Errorf("wait for discord rate limit: %w", err))
	}
	return nil
}

func rateLimited(wait time.Duration, err error) *pipeline.Result {
	return &pipeline.Result{Outcome: pipeline.RateLimited, RetryAfter: wait, Err: err}
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
