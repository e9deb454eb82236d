// Package app is kickwatch's command line: it parses the verbs and flags,
// loads the config, and wires the daemon's components in order. main.go only
// hands it the process's context, arguments, streams and environment.
package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"kickwatch/pipeline/config"
)

// Exit codes.
const (
	ExitOK      = 0 // success
	ExitRuntime = 1 // the job failed at run time
	ExitUsage   = 2 // bad arguments or config
)

// Env is what the process gives the command line.
type Env struct {
	Stdout, Stderr io.Writer
	Getenv         func(string) string
	Version        string
	// DefaultConfig is the embedded config.toml.
	DefaultConfig []byte
	// DemoChat is the embedded scripted chat (testdata/demo/chat.jsonl) the
	// demo mode replays.
	DemoChat []byte
	// DemoPace is the time between two demo chat lines; zero means a pace a
	// person can follow.
	DemoPace time.Duration
	// Reload receives a value for each request to re-read the config
	// (SIGHUP); nil means never.
	Reload <-chan struct{}
}

// usageError is a bad argument: exit code 2 with the verb's usage.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

// configError is a config that does not load: exit code 2.
type configError struct{ err error }

func (e *configError) Error() string { return e.err.Error() }
func (e *configError) Unwrap() error { return e.err }

const usage = `kickwatch watches Kick chat and delivers every mention of you to Discord,
a Supabase/PostgREST table, or the console, without ever losing one.

Usage:
  kickwatch [run] [-config FILE]             run the daemon (the default verb)
  kickwatch check [-config FILE] [-probe]    validate the config and the store; print the settings;
                                             -probe also reaches Discord, the database and Kick
  kickwatch notify-test [-config FILE]       send one sample mention through every enabled sink
  kickwatch webhook subscribe|list|unsubscribe  manage Kick's official chat webhooks
  kickwatch outbox stats|ls|retry|purge      inspect and manage the outbox
  kickwatch history [-since D] [-grep T]     read past mentions
  kickwatch replay [-config FILE] FILE.jsonl feed recorded chat frames through the matcher into the outbox
  kickwatch version                          print the version

Run 'kickwatch VERB -help' for a verb's flags.
Exit codes: 0 ok, 1 runtime failure, 2 usage or config error.
`

// Main runs the command line and returns the process exit code.
func Main(ctx context.Context, args []string, env Env) int {
	if env.Getenv == nil {
		env.Getenv = os.Getenv
	}
	err := dispatch(ctx, args, env)
	var ue *usageError
	var ce *configError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return ExitOK
	case errors.As(err, &ue):
		fmt.Fprintf(env.Stderr, "kickwatch: %s\n", ue.msg)
		return ExitUsage
	case errors.As(err, &ce):
		fmt.Fprintf(env.Stderr, "kickwatch: config:\n%s\n", indent(ce.err.Error()))
		return ExitUsage
	default:
		fmt.Fprintf(env.Stderr, "kickwatch: %v\n", err)
		return ExitRuntime
	}
}

func dispatch(ctx context.Context, args []string, env Env) error {
	verb := "run"
	if len(args) > 0 && (!strings.HasPrefix(args[0], "-") || isHelp(args[0])) {
		verb, args = args[0], args[1:]
	}
	switch verb {
	case "run":
		return cmdRun(ctx, args, env)
	case "check":
		return cmdCheck(ctx, args, env)
	case "outbox":
		return cmdOutbox(ctx, args, env)
	case "history":
		return cmdHistory(ctx, args, env)
	case "replay":
		return cmdReplay(ctx, args, env)
	case "notify-test":
		return cmdNotifyTest(ctx, args, env)
	case "webhook":
		return cmdWebhook(ctx, args, env)
	case "version":
		if len(args) > 0 && isHelp(args[0]) {
			fmt.Fprintln(env.Stderr, "Usage: kickwatch version")
			return nil
		}
		fmt.Fprintf(env.Stdout, "kickwatch %s\n", env.Version)
		return nil
	case "help", "-h", "-help", "--help":
		fmt.Fprint(env.Stdout, usage)
		return nil
	}
	fmt.Fprint(env.Stderr, usage)
	return usagef("unknown verb %q", verb)
}

func isHelp(arg string) bool { return arg == "-h" || arg == "-help" || arg == "--help" }

// flagSet returns a flag set for verb that prints its usage to stderr and
// returns errors instead of exiting.
func flagSet(env Env, verb, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(verb, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.Usage = func() {
		fmt.Fprintf(env.Stderr, "Usage: kickwatch %s\n\nFlags:\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses args, mapping errors to usage errors.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &usageError{err.Error()}
	}
	return nil
}

// loadConfig loads the config named by -config (or found by the search
// order) and reports its warnings on log.
func loadConfig(path string, env Env, log *slog.Logger) (*config.Config, error) {
	cfg, warns, err := config.Load(config.Options{Path: path, Defaults: env.DefaultConfig, Getenv: env.Getenv})
	for _, w := range warns {
		log.Warn("config", "warning", w.String())
	}
	if err != nil {
		return nil, &configError{err}
	}
	return cfg, nil
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n  ")
}

// newLogger builds the process logger from the config.
func newLogger(w io.Writer, cfg *config.Config, level *slog.LevelVar) *slog.Logger {
	if level == nil {
		level = new(slog.LevelVar)
	}
	if cfg != nil {
		level.Set(cfg.Log.Level.Slog())
	}
	opts := &slog.HandlerOptions{Level: level}
	if cfg != nil && cfg.Log.Format == config.FormatJSON {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
