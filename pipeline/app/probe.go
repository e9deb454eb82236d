package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"kickwatch/pipeline"
	"kickwatch/pipeline/config"
	"kickwatch/pipeline/discord"
	"kickwatch/pipeline/kick"
	"kickwatch/pipeline/kickhook"
	"kickwatch/pipeline/postgrest"
)

// errProbeFailed is check -probe's runtime failure after it printed why.
var errProbeFailed = errors.New("probe: some peers are not reachable as configured (see above)")

// probePeers reaches each configured peer without posting anything and
// prints one line per peer.
func probePeers(ctx context.Context, cfg *config.Config, sinks []pipeline.Sink, env Env) error {
	failed := false
	report := func(peer string, err error, ok string) {
		if err != nil {
			failed = true
			fmt.Fprintf(env.Stdout, "probe %-22s FAIL  %v\n", peer, err)
			return
		}
		fmt.Fprintf(env.Stdout, "probe %-22s ok    %s\n", peer, ok)
	}
	for _, s := range sinks {
		switch s := s.(type) {
		case *discord.Sink:
			res, err := s.Probe(ctx)
			report("discord", err, fmt.Sprintf("webhook %q posts to channel %s", res.Name, res.ChannelID))
		case *postgrest.Sink:
			report("remote_db", s.Probe(ctx), fmt.Sprintf("table %s is readable", cfg.RemoteDB.Table))
		}
	}
	if !cfg.DemoMode() {
		r := kick.NewResolver(kick.ResolverOptions{APIURL: cfg.Kick.APIURL, Timeout: cfg.Kick.ResolveTimeout.Duration})
		for _, c := range cfg.Kick.Channels {
			peer := "kick channel " + c.Slug
			if c.ChatroomID != 0 {
				report(peer, nil, fmt.Sprintf("chatroom id %d from the config (no lookup)", c.ChatroomID))
				continue
			}
			rctx, cancel := context.WithTimeout(ctx, cfg.Kick.ResolveTimeout.Duration+time.Second)
			ch, err := r.Resolve(rctx, c.Slug)
			cancel()
			report(peer, err, fmt.Sprintf("chatroom id %d, channel id %d", ch.ChatroomID, ch.ChannelID))
		}
	}
	if w := cfg.Kick.Webhook; w.Enabled {
		report("kick webhook key", probeWebhookKey(ctx, w), "Kick's published key matches kick.webhook.public_key_file")
	}
	if failed {
		return errProbeFailed
	}
	return nil
}

// probeWebhookKey fetches Kick's published webhook key and compares it with
// the one the receiver verifies with.
func probeWebhookKey(ctx context.Context, w config.Webhook) error {
	mine, err := kickhook.LoadPublicKey(w.PublicKeyFile)
	if err != nil {
		return err
	}
	api := kickhook.NewAPIClient(kickhook.APIOptions{TokenURL: kickAPI.token, APIURL: kickAPI.api})
	theirs, _, err := api.PublicKey(ctx)
	if err != nil {
		return err
	}
	if !mine.Equal(theirs) {
		return errors.New("kick publishes a different key than the one configured: update kickwatch, or set kick.webhook.public_key_file to the published key")
	}
	return nil
}
