package app

import (
	"fmt"
	"log/slog"

	"kickwatch/pipeline"
	"kickwatch/pipeline/config"
	"kickwatch/pipeline/console"
	"kickwatch/pipeline/discord"
	"kickwatch/pipeline/postgrest"
)

// buildSinks returns the enabled sinks, console first.
func buildSinks(cfg *config.Config, env Env, log *slog.Logger) ([]pipeline.Sink, error) {
	var out []pipeline.Sink
	if cfg.ConsoleEnabled() {
		out = append(out, console.New(env.Stdout))
	}
	if cfg.DiscordEnabled() {
		s, err := discord.New(discord.Options{
			WebhookURL: cfg.Discord.WebhookURL,
			Timeout:    cfg.Discord.Timeout.Duration,
			Username:   cfg.Discord.Username,
			Logger:     log.With("component", "discord"),
		})
		if err != nil {
			return nil, fmt.Errorf("discord: %w", err)
		}
		out = append(out, s)
	}
	if cfg.RemoteDBEnabled() {
		s, err := postgrest.New(postgrest.Options{
			URL:     cfg.RemoteDB.URL,
			APIKey:  cfg.RemoteDB.APIKey,
			Table:   cfg.RemoteDB.Table,
			Timeout: cfg.RemoteDB.Timeout.Duration,
			Logger:  log.With("component", "remote_db"),
		})
		if err != nil {
			return nil, fmt.Errorf("remote_db: %w", err)
		}
		out = append(out, s)
	}
	return out, nil
}
