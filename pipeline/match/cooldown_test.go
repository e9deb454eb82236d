package match

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"kickwatch/pipeline"
)

// fakeClock is an injected clock the test moves by hand.
type fakeClock struct{ ns atomic.Int64 }

func (c *fakeClock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

func TestMatch_Cooldown(t *testing.T) {
	clk := &fakeClock{}
	clk.advance(time.Hour)
	m := mustNew(t, Options{Username: "bob", Cooldown: time.Minute, Now: clk.now})
	from := func(channel string, senderID int64, sender string) *pipeline.ChatMessage {
		c := chat("@bob hi")
		c.Channel, c.SenderID, c.Sender = channel, senderID, sender
		return c
	}
	steps := []struct {
		name     string
		advance  time.Duration
		msg      *pipeline.ChatMessage
		wantKept bool
	}{
		{"first", 0, from("a", 1, "x"), true},
		{"same sender within window", 30 * time.Second, from("A", 1, "x"), false},
		{"other channel", 0, from("b", 1, "x"), true},
		{"other sender", 0, from("a", 2, "y"), true},
		{"window counts from kept match", 29 * time.Second, from("a", 1, "x"), false},
		{"window over", time.Second, from("a", 1, "x"), true},
		{"new window", 59 * time.Second, from("a", 1, "x"), false},
		{"no id: by name", 0, from("a", 0, "Anon"), true},
		{"no id: same name other case", 0, from("a", 0, "anon"), false},
	}
	for _, s := range steps {
		clk.advance(s.advance)
		r := m.Evaluate(s.msg)
		if r.Kind != pipeline.KindMention || r.Kept() != s.wantKept || r.Suppressed == s.wantKept {
			t.Fatalf("%s: Evaluate = %+v, want kept=%v", s.name, r, s.wantKept)
		}
		if _, _, ok := m.Match(s.msg); ok {
			// Match applies the cooldown too; the previous call just kept or
			// suppressed this sender, so this one is always within the window.
			t.Fatalf("%s: immediate repeat Match kept, want suppressed", s.name)
		}
	}
	if r := m.Evaluate(chat("nothing here")); r != (Result{}) {
		t.Fatalf("non-match Evaluate = %+v, want zero", r)
	}
}

func TestCooldown_Bounded(t *testing.T) {
	clk := &fakeClock{}
	c := newCooldown(time.Minute, 3, clk.now)
	for i := range 10 {
		if !c.allow(fmt.Sprint(i)) {
			t.Fatalf("allow(%d) = false, want true for a new key", i)
		}
	}
	if got, want := c.len(), 3; got != want {
		t.Fatalf("entries=%d, want %d", got, want)
	}
	if c.allow("9") {
		t.Fatal("allow(9) = true, want false: newest entries are kept")
	}
	if !c.allow("0") {
		t.Fatal("allow(0) = false, want true: oldest entry was evicted")
	}
	clk.advance(time.Minute)
	c.allow("x")
	if got, want := c.len(), 1; got != want {
		t.Fatalf("entries after expiry=%d, want %d", got, want)
	}
}

func TestCooldown_ClockStepsBack(t *testing.T) {
	clk := &fakeClock{}
	clk.advance(time.Hour)
	c := newCooldown(time.Minute, 10, clk.now)
	c.allow("k")
	clk.advance(-time.Hour)
	if !c.allow("k") {
		t.Fatal("allow after clock stepped back = false, want true (never suppress on a broken clock)")
	}
}

func TestMatcher_ConcurrentUse(t *testing.T) {
	clk := &fakeClock{}
	m := mustNew(t, Options{Username: "bob", Cooldown: time.Second, Now: clk.now,
		Rules: []Rule{{Name: "re", Regex: `x+y`}, {Name: "kw", Keyword: "hey"}}})
	frame := pusherFrame(t, map[string]any{"content": "@bob hey", "sender": map[string]any{"username": "u"}})
	var wg sync.WaitGroup
	var kept atomic.Int64
	for g := range 4 {
		wg.Go(func() {
			for i := range 500 {
				msg := chat("@bob xxy hey")
				msg.SenderID = int64(g*1000 + i%50)
				if _, _, ok := m.Match(msg); ok {
					kept.Add(1)
				}
				if m.Prefilter(frame) {
					t.Error("Prefilter dropped a matching frame")
					return
				}
				clk.advance(time.Millisecond)
			}
		})
	}
	wg.Wait()
	if kept.Load() == 0 {
		t.Fatal("no match kept")
	}
}
