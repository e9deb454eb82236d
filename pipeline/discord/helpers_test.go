package discord

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"kickwatch/pipeline"
	"kickwatch/pipeline/discord/discordfake"
)

// secretToken is distinctive so a leak into any error text is easy to find.
const secretToken = "SECRETxTOKENxDoNotLeak_0123456789abcdefghijklmnopqrstuvwxyzABCDEFGH"

// fakeClock is shared by the sink and the fake: the sink's Sleep advances it,
// so pacing runs instantly and deterministically.
type fakeClock struct {
	mu    sync.Mutex
	t     time.Time
	slept time.Duration
}

func newClock() *fakeClock { return &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	c.slept += d
	return nil
}

func (c *fakeClock) Slept() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.slept
}

type env struct {
	fake  *discordfake.Server
	clock *fakeClock
	sink  *Sink
}

// newEnv starts a fake (with fo, its clock and secret token filled in) and a
// sink pointed at it.
func newEnv(t *testing.T, fo discordfake.Options, so Options) *env {
	t.Helper()
	c := newClock()
	fo.Now = c.Now
	if fo.Token == "" {
		fo.Token = secretToken
	}
	f := discordfake.New(fo)
	t.Cleanup(f.Close)
	if so.WebhookURL == "" {
		so.WebhookURL = f.WebhookURL()
	}
	if so.Now == nil {
		so.Now = c.Now
	}
	if so.Sleep == nil {
		so.Sleep = c.Sleep
	}
	if so.Logger == nil {
		so.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s, err := New(so)
	if err != nil {
		t.Fatal(err)
	}
	return &env{fake: f, clock: c, sink: s}
}

func (e *env) deliver(t *testing.T, ms ...pipeline.Mention) []pipeline.Result {
	t.Helper()
	res := e.sink.Deliver(t.Context(), ms)
	if len(res) != len(ms) {
		t.Fatalf("%d results for %d mentions", len(res), len(ms))
	}
	for i, r := range res {
		checkNoSecret(t, r.Err, secretToken)
		if r.Outcome != pipeline.Delivered && r.Err == nil {
			t.Errorf("result %d: outcome %s without Err", i, r.Outcome)
		}
	}
	return res
}

// checkNoSecret fails when err or anything it wraps mentions secret.
func checkNoSecret(t *testing.T, err error, secret string) {
	t.Helper()
	for e := err; e != nil; e = errors.Unwrap(e) {
		if strings.Contains(e.Error(), secret) || strings.Contains(e.Error(), discordfake.DefaultWebhookID) {
			t.Errorf("error leaks the webhook URL or token: %q", e.Error())
		}
	}
}

func outcomes(res []pipeline.Result) string {
	s := make([]string, len(res))
	for i, r := range res {
		s[i] = r.Outcome.String()
	}
	return strings.Join(s, ",")
}

func repeat(o pipeline.Outcome, n int) string {
	return strings.TrimSuffix(strings.Repeat(o.String()+",", n), ",")
}
