package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"kickwatch/pipeline/discord/discordfake"
)

// Crash test parameters. The whole test stays near a minute: the kills take
// about 20 s, and the drain is bounded below by the outbox lease (rows
// claimed when the process died are due again 2×timeout+30 s later).
const (
	crashKills        = 10
	crashFrameEvery   = 5 * time.Millisecond // 200 frames/s over 3 channels
	crashMentionRatio = 0.2
	crashMinUp        = 600 * time.Millisecond // time between subscribe and kill
	crashMaxUp        = 2200 * time.Millisecond
	crashFinalUp      = 2 * time.Second
	crashSinkTimeout  = 2 * time.Second
	// crashGrace is how long before a kill a published mention counts as
	// surely received and stored: a frame in the socket or the ingest queue
	// when the process dies is lost with it, and Kick does not resend.
	crashGrace = time.Second
)

// sent is one published mention.
type sent struct {
	tok, id string
	run     int
	at      time.Time
}

// chatLoad publishes steady chat while a daemon is up: round robin over the
// channels, a share of it mentions, the rest ordinary chat.
type chatLoad struct {
	kick  *KickServer
	chans []Channel
	toks  Tokens
	rng   *rand.Rand

	mu       sync.Mutex
	live     bool
	run      int
	frames   int
	unheard  int // frames no socket took while live (should stay 0)
	mentions []sent
}

// setLive turns publishing on for run, or off; once it returns false→off,
// nothing more is published until turned on again.
func (c *chatLoad) setLive(on bool, run int) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.live, c.run = on, run
	return time.Now()
}

// tick publishes one frame if live.
func (c *chatLoad) tick() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.live {
		return
	}
	ch := c.chans[c.frames%len(c.chans)]
	c.frames++
	if c.rng.Float64() >= crashMentionRatio {
		if c.kick.PublishMessage(Message{ChatroomID: ch.ChatroomID, SenderID: int64(100 + c.frames%50),
			Sender: fmt.Sprintf("viewer%d", c.frames%50), Content: fmt.Sprintf("just chatting, frame %d", c.frames)}) == 0 {
			c.unheard++
		}
		return
	}
	s := sent{tok: c.toks.Token(len(c.mentions)), id: NewUUID(), run: c.run, at: time.Now()}
	if mention(c.kick, ch, s.id, s.tok) == 0 {
		c.unheard++
		return
	}
	c.mentions = append(c.mentions, s)
}

// run ticks until ctx is done.
func (c *chatLoad) runLoop(ctx context.Context) {
	t := time.NewTicker(crashFrameEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			c.tick()
		}
	}
}

// TestCrash_SIGKILLUnderLoad SIGKILLs the daemon at random moments under a
// steady chat load, restarts it each time, and checks that every mention it
// could have received is in PostgREST exactly once and reached Discord at
// least once, with no more duplicate Discord posts than kills.
func TestCrash_SIGKILLUnderLoad(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 150*time.Second)
	defer cancel()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))

	// 5 requests per second: one of the per-webhook buckets the reference
	// reports (A2); the sink paces itself by the headers and 429s.
	df := discordfake.New(discordfake.Options{BucketLimit: 5, BucketWindow: time.Second})
	chans := []Channel{{"e2e-crash-a", 7401}, {"e2e-crash-b", 7402}, {"e2e-crash-c", 7403}}
	r := newRig(t, df, chans)
	r.settings.CapPerChannel = 5000
	r.settings.DiscordTimeout, r.settings.RemoteDBTimeout = crashSinkTimeout, crashSinkTimeout
	r.settings.RetryInitial, r.settings.RetryMax = 100*time.Millisecond, time.Second
	toks := NewTokens()
	load := &chatLoad{kick: r.kick, chans: chans, toks: toks, rng: rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64()))}
	lctx, lcancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); load.runLoop(lctx) }()
	defer func() { lcancel(); wg.Wait() }()

	started := time.Now()
	kills := make([]time.Time, 0, crashKills)
	for run := range crashKills {
		p := r.start(ctx)
		load.setLive(true, run)
		up := crashMinUp + time.Duration(rng.Int64N(int64(crashMaxUp-crashMinUp)))
		if err := wait(ctx, up); err != nil {
			t.Fatal(err)
		}
		kills = append(kills, load.setLive(false, run))
		if err := p.Kill(ctx); err != nil {
			t.Fatalf("kill %d: %v", run, err)
		}
		if err := r.kick.WaitNoSockets(ctx); err != nil {
			t.Fatalf("socket of killed run %d still open: %v", run, err)
		}
	}
	killPhase := time.Since(started)

	p := r.start(ctx)
	load.setLive(true, crashKills)
	if err := wait(ctx, crashFinalUp); err != nil {
		t.Fatal(err)
	}
	stopped := load.setLive(false, crashKills)
	lcancel()
	wg.Wait()

	// Which mentions must have been received: published at least crashGrace
	// before the kill of their run, or in the last run (stopped gracefully).
	mustHave, atRisk := map[string]sent{}, map[string]sent{}
	for _, s := range load.mentions {
		if s.run < len(kills) && kills[s.run].Sub(s.at) < crashGrace {
			atRisk[s.tok] = s
		} else {
			mustHave[s.tok] = s
		}
	}
	byID, byTok := map[string]sent{}, map[string]sent{}
	for _, s := range load.mentions {
		byID[s.id], byTok[s.tok] = s, s
	}

	// Drain: every must-have mention stored remotely and posted, and the
	// outbox empty.
	var rows []Row
	var posts Delivery
	err := Poll(ctx, 250*time.Millisecond, func() (bool, error) {
		var err error
		if rows, err = r.pg.Rows(ctx, r.table); err != nil {
			return false, err
		}
		posts = Deliveries(toks.Posts(df.Requests()))
		inDB := rowsByID(rows)
		for _, s := range mustHave {
			if inDB[s.id] == 0 || posts.Count[s.tok] == 0 {
				return false, nil
			}
		}
		for id := range inDB {
			if s, ok := byID[id]; ok && posts.Count[s.tok] == 0 {
				return false, nil
			}
		}
		st, err := r.daemon.OutboxStats(ctx)
		return err == nil && st.Undelivered == 0, err
	})
	drain := time.Since(stopped)
	if err != nil {
		t.Errorf("not drained %v after the load stopped: %v", drain.Round(time.Millisecond), err)
	}
	code, err := p.Stop(ctx)
	if err != nil || code != 0 {
		t.Errorf("final SIGTERM: exit %d, %v\n%s", code, err, tail(p, 30))
	}

	// Every stored row is a published mention, exactly once; every must-have
	// mention is stored and posted; every stored mention was posted.
	inDB := rowsByID(rows)
	missing, lostAtRisk := 0, 0
	for id, n := range inDB {
		s, ok := byID[id]
		switch {
		case !ok:
			t.Errorf("row %s in the table was never published as a mention", id)
		case n != 1:
			t.Errorf("mention %s (%s): %d rows, want exactly 1", s.tok, id, n)
		}
		if ok && posts.Count[s.tok] == 0 {
			t.Errorf("mention %s is in the table but never reached Discord", s.tok)
		}
	}
	for _, s := range mustHave {
		if inDB[s.id] == 0 || posts.Count[s.tok] == 0 {
			missing++
			if missing <= 10 {
				t.Errorf("mention %s (run %d, published %v before the run ended) lost: rows=%d discord=%d",
					s.tok, s.run, endOf(s.run, kills, stopped).Sub(s.at).Round(time.Millisecond), inDB[s.id], posts.Count[s.tok])
			}
		}
	}
	var oldestLost time.Duration // how long before its kill the oldest lost mention was published
	for _, s := range atRisk {
		if inDB[s.id] == 0 {
			lostAtRisk++
			oldestLost = max(oldestLost, kills[s.run].Sub(s.at))
		}
	}
	for tok := range posts.Count {
		if _, ok := inDB[byTok[tok].id]; !ok {
			t.Errorf("Discord got %s, which is not in the table", tok)
		}
	}
	if posts.DuplicatePosts > len(kills) {
		t.Errorf("Discord duplicate posts %d, want at most %d (one per kill)", posts.DuplicatePosts, len(kills))
	}
	if load.unheard > 0 {
		t.Errorf("%d frames were published with no socket listening", load.unheard)
	}
	stats := df.Statuses()
	t.Logf("crash test: %d SIGKILLs in %v (seed %d); %d frames, %d mentions published while subscribed (%d at risk within %v of a kill, %d of those lost with the process, the oldest published %v before its kill)",
		len(kills), killPhase.Round(time.Millisecond), seed, load.frames, len(load.mentions), len(atRisk), crashGrace, lostAtRisk,
		oldestLost.Round(time.Millisecond))
	t.Logf("crash test: %d rows in PostgREST (each exactly once), %d distinct mentions on Discord in %d posts; Discord duplicates: %d posts, %d extra mention copies (≤ %d kills); Discord answers %v",
		len(rows), len(posts.Count), countPosts(df), posts.DuplicatePosts, posts.ExtraCopies, len(kills), stats)
	t.Logf("crash test: drained %v after the load stopped (outbox lease after a kill: 2×%v+30s); missing must-have mentions: %d",
		drain.Round(time.Millisecond), crashSinkTimeout, missing)
}

// wait waits d or until ctx is done: the load's schedule, not a
// synchronisation.
func wait(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// endOf is when run ended: its kill, or the end of the load.
func endOf(run int, kills []time.Time, stopped time.Time) time.Time {
	if run < len(kills) {
		return kills[run]
	}
	return stopped
}

func countPosts(df *discordfake.Server) int {
	n := 0
	for _, r := range df.Requests() {
		if r.Status >= 200 && r.Status <= 299 {
			n++
		}
	}
	return n
}
