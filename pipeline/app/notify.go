package app

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"kickwatch/pipeline"
)

// errNotifyFailed is notify-test's runtime failure after it printed why.
var errNotifyFailed = errors.New("notify-test: some sinks did not deliver (see above)")

// cmdNotifyTest sends one sample mention through every enabled sink, directly
// (not through the outbox), and prints each sink's outcome.
func cmdNotifyTest(ctx context.Context, args []string, env Env) error {
	fs := flagSet(env, "notify-test", "notify-test [-config FILE]")
	path := fs.String("config", "", "config file")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("notify-test takes no arguments, got %q", fs.Args())
	}
	boot := newLogger(env.Stderr, nil, nil)
	cfg, err := loadConfig(*path, env, boot)
	if err != nil {
		return err
	}
	sinks, err := buildSinks(cfg, env, newLogger(env.Stderr, cfg, nil))
	if err != nil {
		return &configError{err}
	}
	if len(sinks) == 0 {
		return usagef("no sink is enabled: set discord.webhook_url or remote_db, or console.enabled")
	}
	m := sampleMention(cfg.Kick.Username, time.Now())
	failed := false
	for _, s := range sinks {
		sctx, cancel := context.WithTimeout(ctx, sinkTimeout(cfg, s.Name())+time.Second)
		res := s.Deliver(sctx, []pipeline.Mention{m})
		cancel()
		r := res[0]
		if r.Outcome == pipeline.Delivered {
			ref := ""
			if r.RemoteRef != "" {
				ref = " (remote id " + r.RemoteRef + ")"
			}
			fmt.Fprintf(env.Stdout, "notify-test %-10s delivered%s\n", s.Name(), ref)
			continue
		}
		failed = true
		fmt.Fprintf(env.Stdout, "notify-test %-10s %s: %v\n", s.Name(), r.Outcome, r.Err)
	}
	if failed {
		return errNotifyFailed
	}
	return nil
}

// sampleMention is the notify-test mention: clearly a test, with a fresh id
// so a database sink stores it (and a second run stores another).
func sampleMention(user string, now time.Time) pipeline.Mention {
	if user == "" {
		user = "you"
	}
	return pipeline.Mention{
		MessageID:  "kickwatch-notify-test-" + rand.Text(),
		Channel:    "kickwatch",
		Sender:     "kickwatch",
		Content:    "@" + user + " this is a test notification from kickwatch notify-test: delivery works",
		Kind:       pipeline.KindMention,
		CreatedAt:  now.UTC(),
		ReceivedAt: now.UTC(),
		Source:     "test",
	}
}
