package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"kickwatch/pipeline"
	"kickwatch/pipeline/config"
	"kickwatch/store"
)

func cmdCheck(ctx context.Context, args []string, env Env) error {
	fs := flagSet(env, "check", "check [-config FILE] [-probe]")
	path := fs.String("config", "", "config file (default: the search order, then the built-in default)")
	probe := fs.Bool("probe", false, "also reach each peer without posting (Discord webhook, remote_db table, Kick channel lookups)")
	if err := parse(fs, args); err != nil {
		return err
	}
	boot := newLogger(env.Stderr, nil, nil)
	cfg, err := loadConfig(*path, env, boot)
	if err != nil {
		return err
	}
	sinks, err := buildSinks(cfg, env, boot)
	if err != nil {
		return &configError{err}
	}
	st, err := store.Open(ctx, cfg.Store.Path, store.Options{BusyTimeout: cfg.Store.BusyTimeout.Duration})
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Writable(ctx); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "# kickwatch %s: config %s is valid; store %s is writable\n", env.Version, cfg.Source, cfg.Store.Path)
	var names []string
	for _, s := range sinks {
		names = append(names, s.Name())
	}
	fmt.Fprintf(env.Stdout, "# sinks enabled: %s\n", strings.Join(names, ", "))
	if cfg.DemoMode() {
		fmt.Fprintln(env.Stdout, "# demo mode: no [[kick.channels]] and kick.demo = true")
	}
	fmt.Fprintln(env.Stdout, cfg.Redacted())
	if *probe {
		return probePeers(ctx, cfg, sinks, env)
	}
	return nil
}

// openForCLI opens the store named by the config without changing sink
// state (the daemon may be running beside the command).
func openForCLI(ctx context.Context, path string, env Env) (*store.Store, *config.Config, error) {
	boot := newLogger(env.Stderr, nil, nil)
	cfg, err := loadConfig(path, env, boot)
	if err != nil {
		return nil, nil, err
	}
	st, err := store.Open(ctx, cfg.Store.Path, store.Options{BusyTimeout: cfg.Store.BusyTimeout.Duration})
	if err != nil {
		return nil, nil, err
	}
	return st, cfg, nil
}

const outboxUsage = `outbox stats|ls|retry|purge [flags]

  stats                        counts per sink and state, drops per channel
  ls [-sink S] [-state ST] [-n N] [-json]   list rows (default: pending and dead)
  retry [-sink S] [-dropped]   requeue dead letters (and, with -dropped, rows dropped by the cap)
  purge [-dropped] -yes        delete dead-lettered rows for good`

func cmdOutbox(ctx context.Context, args []string, env Env) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
			fmt.Fprintln(env.Stdout, "Usage: kickwatch "+outboxUsage)
			return nil
		}
		return usagef("usage: kickwatch %s", outboxUsage)
	}
	sub, args := args[0], args[1:]
	fs := flagSet(env, "outbox "+sub, outboxUsage)
	path := fs.String("config", "", "config file")
	sink := fs.String("sink", "", "only this sink (discord, remote_db, console)")
	state := fs.String("state", "", "ls: only this state (pending, delivered, dead, dropped)")
	n := fs.Int("n", 50, "ls: at most this many rows")
	asJSON := fs.Bool("json", false, "ls, stats: JSON output")
	dropped := fs.Bool("dropped", false, "retry, purge: also rows dropped by the cap")
	yes := fs.Bool("yes", false, "purge: really delete")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("outbox %s takes no arguments, got %q", sub, fs.Args())
	}
	if *n <= 0 || *n > 100000 {
		return usagef("-n %d: want 1..100000", *n)
	}
	var states []store.State
	if *state != "" {
		s, err := store.ParseState(*state)
		if err != nil {
			return usagef("-state: %v", err)
		}
		states = []store.State{s}
	}
	switch sub {
	case "stats", "ls", "retry", "purge":
	default:
		return usagef("unknown outbox command %q; usage: kickwatch %s", sub, outboxUsage)
	}
	if sub == "purge" && !*yes {
		return usagef("outbox purge deletes dead letters for good: add -yes")
	}
	st, _, err := openForCLI(ctx, *path, env)
	if err != nil {
		return err
	}
	defer st.Close()
	switch sub {
	case "stats":
		s, err := st.Stats(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			return json.NewEncoder(env.Stdout).Encode(s)
		}
		printStats(env.Stdout, s)
	case "ls":
		if states == nil {
			states = []store.State{store.StatePending, store.StateDead}
		}
		ents, err := st.List(ctx, store.Filter{Sink: *sink, States: states, Limit: *n})
		if err != nil {
			return err
		}
		return printEntries(env.Stdout, ents, *asJSON)
	case "retry":
		if *sink != "" && !contains(st.Sinks(), *sink) {
			return usagef("-sink %q: the store knows sinks %v", *sink, st.Sinks())
		}
		k, err := st.Requeue(ctx, *sink, *dropped)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "requeued %d deliveries; a running kickwatch picks them up within a second\n", k)
	case "purge":
		k, err := st.Purge(ctx, *dropped)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "purged %d mentions\n", k)
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func printStats(w io.Writer, s store.Stats) {
	fmt.Fprintf(w, "mentions stored: %d (undelivered: %d)\n\n", s.Messages, s.Undelivered)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SINK\tPENDING\tDUE\tDELIVERED\tDEAD\tDROPPED")
	for _, ss := range s.Sinks {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\n", ss.Sink, ss.Pending, ss.Due, ss.Delivered, ss.Dead, ss.Dropped)
	}
	tw.Flush()
	if len(s.Dropped) > 0 {
		fmt.Fprintln(w, "\ndropped by the outbox cap, per channel:")
		for ch, n := range s.Dropped {
			fmt.Fprintf(w, "  %s: %d\n", ch, n)
		}
	}
}

// entryJSON is the JSON form of a listed row.
type entryJSON struct {
	ID          int64             `json:"id"`
	MessageID   string            `json:"message_id"`
	Channel     string            `json:"channel"`
	Sink        string            `json:"sink,omitempty"`
	State       string            `json:"state,omitempty"`
	Attempts    int               `json:"attempts,omitempty"`
	NextAt      *time.Time        `json:"next_attempt_at,omitempty"`
	LastError   string            `json:"last_error,omitempty"`
	DeliveredAt *time.Time        `json:"delivered_at,omitempty"`
	RemoteRef   string            `json:"remote_ref,omitempty"`
	EnqueuedAt  time.Time         `json:"enqueued_at"`
	Mention     *pipeline.Mention `json:"mention,omitempty"`
}

func toJSON(e store.Entry) entryJSON {
	j := entryJSON{ID: e.ID, MessageID: e.Key, Channel: e.Channel, Sink: e.Sink, Attempts: e.Attempts,
		LastError: e.LastError, RemoteRef: e.RemoteRef, EnqueuedAt: e.CreatedAt}
	if e.Sink != "" {
		j.State = e.State.String()
		if e.State == store.StatePending {
			t := e.NextAt
			j.NextAt = &t
		}
	}
	if !e.DeliveredAt.IsZero() {
		t := e.DeliveredAt
		j.DeliveredAt = &t
	}
	if m, err := pipeline.DecodeMention(e.Payload); err == nil {
		j.Mention = &m
	}
	return j
}

func printEntries(w io.Writer, ents []store.Entry, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		for _, e := range ents {
			if err := enc.Encode(toJSON(e)); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSINK\tSTATE\tATTEMPTS\tCHANNEL\tSENDER\tENQUEUED\tLAST ERROR")
	for _, e := range ents {
		sender := "?"
		if m, err := pipeline.DecodeMention(e.Payload); err == nil {
			sender = m.Sender
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", e.ID, e.Sink, e.State, e.Attempts, e.Channel,
			oneLine(sender, 32), e.CreatedAt.Format(time.RFC3339), oneLine(e.LastError, 80))
	}
	return tw.Flush()
}

// oneLine makes untrusted text fit one table cell.
func oneLine(s string, max int) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return ' '
		}
		return r
	}, s)
	if r := []rune(s); len(r) > max {
		s = string(r[:max-1]) + "…"
	}
	return s
}

func cmdHistory(ctx context.Context, args []string, env Env) error {
	fs := flagSet(env, "history", "history [-since DURATION] [-grep TEXT] [-n N] [-json]")
	path := fs.String("config", "", "config file")
	since := fs.Duration("since", 24*time.Hour, "how far back")
	grep := fs.String("grep", "", "only mentions whose sender, channel or text contains this (case-insensitive)")
	n := fs.Int("n", 100, "at most this many")
	asJSON := fs.Bool("json", false, "one JSON object per line")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("history takes no arguments, got %q", fs.Args())
	}
	if *since <= 0 || *n <= 0 || *n > 100000 {
		return usagef("-since must be positive and -n within 1..100000")
	}
	st, _, err := openForCLI(ctx, *path, env)
	if err != nil {
		return err
	}
	defer st.Close()
	ents, err := st.History(ctx, time.Now().Add(-*since), 100000)
	if err != nil {
		return err
	}
	needle := strings.ToLower(*grep)
	shown := 0
	enc := json.NewEncoder(env.Stdout)
	for _, e := range ents {
		if shown >= *n {
			break
		}
		m, err := pipeline.DecodeMention(e.Payload)
		if err != nil {
			continue
		}
		if needle != "" && !strings.Contains(strings.ToLower(m.Sender+"\n"+m.Channel+"\n"+m.Content), needle) {
			continue
		}
		shown++
		if *asJSON {
			if err := enc.Encode(m); err != nil {
				return err
			}
			continue
		}
		fmt.Fprintf(env.Stdout, "%s  #%s  %s (%s): %s\n", m.CreatedAt.Format("2006-01-02 15:04:05Z"), oneLine(m.Channel, 40),
			oneLine(m.Sender, 40), m.Kind, oneLine(pipeline.PlainEmotes(m.Content), 400))
	}
	if shown == 0 && !*asJSON {
		fmt.Fprintln(env.Stderr, "no mentions found")
	}
	return nil
}
