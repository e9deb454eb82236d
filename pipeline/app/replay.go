package app

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"kickwatch/pipeline"
	"kickwatch/pipeline/kick"
	"kickwatch/store"
)

// maxReplayLine bounds one recorded frame (the socket's own frame limit is
// 256 KiB by default).
const maxReplayLine = 1 << 20

// replayStats counts what a replay did with its frames.
type replayStats struct {
	Frames, ChatMessages, Matched, Stored, Duplicates, Malformed, Other int
	Dropped                                                             map[string]int
}

func cmdReplay(ctx context.Context, args []string, env Env) error {
	fs := flagSet(env, "replay", "replay [-config FILE] [-dry-run] FILE.jsonl")
	path := fs.String("config", "", "config file (its username and [match] rules are used)")
	dry := fs.Bool("dry-run", false, "print the matches, store nothing")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("replay takes one file of recorded frames (one Pusher frame per line, '-' for stdin)")
	}
	log := newLogger(env.Stderr, nil, nil)
	cfg, err := loadConfig(*path, env, log)
	if err != nil {
		return err
	}
	m, err := newMatcher(cfg)
	if err != nil {
		return &configError{err}
	}
	var in io.Reader
	if name := fs.Arg(0); name == "-" {
		in = os.Stdin
	} else {
		f, err := os.Open(name)
		if err != nil {
			return fmt.Errorf("replay: %w", err)
		}
		defer f.Close()
		in = f
	}
	var st *store.Store
	if !*dry {
		sinks, err := buildSinks(cfg, env, log)
		if err != nil {
			return &configError{err}
		}
		var names []string
		for _, s := range sinks {
			names = append(names, s.Name())
		}
		st, err = store.Open(ctx, cfg.Store.Path, store.Options{
			Synchronous: string(cfg.Store.Synchronous), CapPerChannel: cfg.Store.OutboxCapPerChannel,
			CapTotal: cfg.Store.OutboxCapTotal, Sinks: names, KeepOtherSinks: true, BusyTimeout: cfg.Store.BusyTimeout.Duration,
		})
		if err != nil {
			return err
		}
		defer st.Close()
	}
	slugs := map[int64]string{}
	for _, c := range cfg.Kick.Channels {
		if c.ChatroomID != 0 {
			slugs[c.ChatroomID] = c.Slug
		}
	}
	if cfg.DemoMode() {
		slugs[demoChatroomID] = demoSlug
	}
	rs, err := replay(ctx, in, slugs, m, st, env.Stdout, time.Now)
	fmt.Fprintf(env.Stderr, "replay: %d frames, %d chat messages, %d matched, %d stored, %d duplicates, %d malformed, %d other\n",
		rs.Frames, rs.ChatMessages, rs.Matched, rs.Stored, rs.Duplicates, rs.Malformed, rs.Other)
	for ch, n := range rs.Dropped {
		fmt.Fprintf(env.Stderr, "replay: outbox cap reached in %s: %d oldest undelivered mentions dropped\n", ch, n)
	}
	return err
}

// matcher is what replay needs of *match.Matcher.
type evaluator interface {
	Match(msg *pipeline.ChatMessage) (pipeline.Kind, string, bool)
}

// replay decodes recorded Pusher frames, matches chat messages and stores the
// matches in batches (st nil: prints them only).
func replay(ctx context.Context, in io.Reader, slugs map[int64]string, m evaluator, st *store.Store, out io.Writer, now func() time.Time) (replayStats, error) {
	rs := replayStats{Dropped: map[string]int{}}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), maxReplayLine)
	var dec kick.Decoder
	var batch []store.Item
	flush := func() error {
		if st == nil || len(batch) == 0 {
			return nil
		}
		r, err := st.EnqueueBatch(ctx, batch)
		if err != nil {
			return fmt.Errorf("replay: store: %w", err)
		}
		rs.Stored += r.Inserted
		rs.Duplicates += r.Duplicates
		for ch, n := range r.Dropped {
			rs.Dropped[ch] += n
		}
		batch = batch[:0]
		return nil
	}
	for sc.Scan() {
		if err := ctx.Err(); err != nil {
			return rs, err
		}
		line := sc.Bytes()
		if len(line) == 0 {
			continue
		}
		rs.Frames++
		f, err := dec.Decode(line)
		if err != nil {
			rs.Malformed++
			continue
		}
		if !kick.IsChatMessageEvent(f.Event) {
			rs.Other++
			continue
		}
		msg, err := kick.ParseChatMessage(f.Data)
		if err != nil {
			rs.Malformed++
			continue
		}
		rs.ChatMessages++
		msg.Channel = slugs[msg.ChatroomID]
		if msg.Channel == "" {
			msg.Channel = fmt.Sprintf("chatroom-%d", msg.ChatroomID)
		}
		kind, rule, ok := m.Match(&msg)
		if !ok {
			continue
		}
		rs.Matched++
		mention := pipeline.NewMention(&msg, kind, rule, now(), "replay")
		fmt.Fprintf(out, "%s  #%s  %s (%s, %s): %s\n", mention.CreatedAt.Format("2006-01-02 15:04:05Z"), oneLine(mention.Channel, 40),
			oneLine(mention.Sender, 40), kind, rule, oneLine(pipeline.PlainEmotes(mention.Content), 400))
		p, err := pipeline.EncodeMention(&mention)
		if err != nil {
			return rs, err
		}
		batch = append(batch, store.Item{Key: mention.MessageID, Channel: mention.Channel, Payload: p})
		if len(batch) >= 500 {
			if err := flush(); err != nil {
				return rs, err
			}
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			err = fmt.Errorf("a line is longer than %d bytes", maxReplayLine)
		}
		flush()
		return rs, fmt.Errorf("replay: read: %w", err)
	}
	return rs, flush()
}
