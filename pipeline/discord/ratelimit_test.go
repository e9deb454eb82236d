package discord

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"kickwatch/pipeline"
	"kickwatch/pipeline/discord/discordfake"
)

func TestParseSeconds(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"65", 65 * time.Second, true},
		{"64.57", 64570 * time.Millisecond, true},
		{"0.3", 300 * time.Millisecond, true},
		{"0.0001", time.Millisecond, true},
		{"2814, 2", 2814 * time.Second, true},
		{" 7 ", 7 * time.Second, true},
		{"1e9", maxWait, true},
		{"", 0, false},
		{"-1", 0, false},
		{"NaN", 0, false},
		{"soon", 0, false},
	}
	for _, tt := range tests {
		got, ok := parseSeconds(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseSeconds(%q)=%s,%t, want %s,%t", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestDeliver_RateLimitScopes(t *testing.T) {
	custom := func(header, body string) discordfake.Fault {
		return discordfake.Fault{Status: 429, Body: body, Header: http.Header{"Retry-After": {header}, "X-Ratelimit-Scope": {"user"}}}
	}
	tests := []struct {
		name        string
		fault       discordfake.Fault
		wait        time.Duration // at least this
		exact       bool
		survivesSet bool // a global pause stays after SetWebhookURL
		stat        func(Stats) uint64
		invalid     uint64
	}{
		{"user", discordfake.RateLimit("user", 64.57), 65 * time.Second, true, false, func(s Stats) uint64 { return s.Status429 }, 1},
		{"body above header", custom("1", `{"message": "You are being rate limited.", "retry_after": 2.5, "global": false}`), 2500 * time.Millisecond, true, false, func(s Stats) uint64 { return s.Status429 }, 1},
		{"odd header", custom("2814, 2", `{"message": "You are being rate limited.", "retry_after": 1, "global": false}`), 2814 * time.Second, true, false, func(s Stats) uint64 { return s.Status429 }, 1},
		{"no wait given", custom("", `{"message": "You are being rate limited.", "global": false}`), defaultRateWait, true, false, func(s Stats) uint64 { return s.Status429 }, 1},
		{"channel write limit", custom("1", `{"message": "The write action you are performing on the channel has hit the write rate limit.", "retry_after": 0.3, "global": false, "code": 20028}`), time.Second, true, false, func(s Stats) uint64 { return s.Status429 }, 1},
		{"shared", discordfake.RateLimit("shared", 1336.57), 1337 * time.Second, true, false, func(s Stats) uint64 { return s.Shared429 }, 0},
		{"global", discordfake.RateLimit("global", 3.2), 4 * time.Second, true, true, func(s Stats) uint64 { return s.Global429 }, 1},
		{"cloudflare", discordfake.Cloudflare1015(), cloudflarePause, false, true, func(s Stats) uint64 { return s.Cloudflare429 }, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, discordfake.Options{}, Options{})
			e.fake.Script(tt.fault)
			res := e.deliver(t, batch(3)...)
			if got, want := outcomes(res), repeat(pipeline.RateLimited, 3); got != want {
				t.Fatalf("outcomes=%s, want %s", got, want)
			}
			r := res[0]
			if r.RetryAfter < tt.wait || (tt.exact && r.RetryAfter != tt.wait) {
				t.Errorf("RetryAfter=%s, want %s (exact %t)", r.RetryAfter, tt.wait, tt.exact)
			}
			if res[2].RetryAfter != r.RetryAfter {
				t.Errorf("unsent RetryAfter=%s, want %s", res[2].RetryAfter, r.RetryAfter)
			}
			st := e.sink.Stats()
			if got := tt.stat(st); got != 1 {
				t.Errorf("scope counter=%d, want 1 (%+v)", got, st)
			}
			if st.Invalid != tt.invalid || st.InvalidWindow != int(tt.invalid) {
				t.Errorf("invalid=%d window=%d, want %d", st.Invalid, st.InvalidWindow, tt.invalid)
			}

			// Paused: no request until the wait has passed.
			e.clock.Advance(r.RetryAfter - time.Millisecond)
			again := e.deliver(t, mention("a", "b"))[0]
			if again.Outcome != pipeline.RateLimited || again.RetryAfter != time.Millisecond {
				t.Errorf("during pause: %+v, want rate limited for 1ms", again)
			}
			if got := e.fake.Count(); got != 1 {
				t.Errorf("requests=%d during the pause, want 1", got)
			}
			if err := e.sink.SetWebhookURL(e.fake.WebhookURL()); err != nil {
				t.Fatal(err)
			}
			want := pipeline.Delivered
			if tt.survivesSet {
				want = pipeline.RateLimited
			}
			if got := e.deliver(t, mention("a", "b"))[0].Outcome; got != want {
				t.Errorf("after SetWebhookURL: %s, want %s", got, want)
			}
			e.clock.Advance(time.Millisecond)
			if got := e.deliver(t, mention("a", "b"))[0].Outcome; got != pipeline.Delivered {
				t.Errorf("after the pause: %s, want delivered", got)
			}
		})
	}
}

func TestDeliver_PacesOnEmptyBucket(t *testing.T) {
	e := newEnv(t, discordfake.Options{BucketLimit: 5, BucketWindow: 2 * time.Second}, Options{})
	for i := range 20 {
		if r := e.deliver(t, mention("a", "b"))[0]; r.Outcome != pipeline.Delivered {
			t.Fatalf("message %d: %s (%v)", i, r.Outcome, r.Err)
		}
	}
	// One Deliver of a backlog too big for one request: pacing inside Deliver.
	big := make([]pipeline.Mention, 30)
	for i := range big {
		big[i] = reply("s", strings.Repeat("m", 2000), strings.Repeat("o", 2000))
	}
	if got, want := outcomes(e.deliver(t, big...)), repeat(pipeline.Delivered, 30); got != want {
		t.Fatalf("backlog outcomes=%s, want all delivered", got)
	}
	if got := e.fake.Statuses()[429]; got != 0 {
		t.Errorf("429s=%d, want 0: the sink must pace before Discord refuses", got)
	}
	if got := e.fake.Early(); got != 0 {
		t.Errorf("early sends=%d, want 0", got)
	}
	if got := e.fake.Count(); got != 35 {
		t.Errorf("requests=%d, want 35", got)
	}
	st := e.sink.Stats()
	if st.Paced != 6 {
		t.Errorf("paced=%d, want 6 (every fifth request waits)", st.Paced)
	}
	if got := e.clock.Slept(); got < 12*time.Second || got > 13*time.Second {
		t.Errorf("slept %s, want about 6 × 2 s", got)
	}
}

func TestDeliver_ChannelSharedLimit(t *testing.T) {
	e := newEnv(t, discordfake.Options{BucketLimit: 5, BucketWindow: 2 * time.Second, ChannelLimit: 7, ChannelWindow: time.Minute}, Options{})
	var got []string
	var last pipeline.Result
	for range 10 {
		last = e.deliver(t, mention("a", "b"))[0]
		got = append(got, last.Outcome.String())
	}
	if want := strings.Repeat("delivered,", 7) + "rate_limited,rate_limited,rate_limited"; strings.Join(got, ",")+"," != want+"," {
		t.Fatalf("outcomes=%v, want 7 delivered then rate limited", got)
	}
	if got := e.fake.Count(); got != 8 {
		t.Errorf("requests=%d, want 8 (one shared 429, then none during the pause)", got)
	}
	if st := e.sink.Stats(); st.Shared429 != 1 || st.Invalid != 0 {
		t.Errorf("stats=%+v, want one shared 429 not counted as invalid", st)
	}
	e.clock.Advance(last.RetryAfter)
	if r := e.deliver(t, mention("a", "b"))[0]; r.Outcome != pipeline.Delivered {
		t.Errorf("after the shared pause: %s", r.Outcome)
	}
}

func TestDeliver_LongResetIsHandedBack(t *testing.T) {
	e := newEnv(t, discordfake.Options{}, Options{})
	e.fake.Script(discordfake.Fault{Status: 200, Header: http.Header{"X-Ratelimit-Remaining": {"0"}, "X-Ratelimit-Reset-After": {"30"}}})
	if r := e.deliver(t, mention("a", "b"))[0]; r.Outcome != pipeline.Delivered {
		t.Fatalf("first: %s", r.Outcome)
	}
	r := e.deliver(t, mention("a", "b"))[0]
	if r.Outcome != pipeline.RateLimited || r.RetryAfter < 30*time.Second {
		t.Errorf("result=%+v, want rate limited for 30 s without waiting inside Deliver", r)
	}
	if e.fake.Count() != 1 || e.clock.Slept() != 0 {
		t.Errorf("requests=%d slept=%s, want 1 and 0", e.fake.Count(), e.clock.Slept())
	}
}

func TestDeliver_PaceBeyondDeadline(t *testing.T) {
	e := newEnv(t, discordfake.Options{}, Options{})
	e.fake.Script(discordfake.Fault{Status: 200, Header: http.Header{"X-Ratelimit-Remaining": {"0"}, "X-Ratelimit-Reset-After": {"2"}}})
	e.deliver(t, mention("a", "b"))
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	r := e.sink.Deliver(ctx, []pipeline.Mention{mention("a", "b")})[0]
	if r.Outcome != pipeline.RateLimited || e.clock.Slept() != 0 {
		t.Errorf("result=%+v slept=%s, want rate limited at once: the wait outlasts ctx", r, e.clock.Slept())
	}
}

func TestDeliver_InvalidBudget(t *testing.T) {
	e := newEnv(t, discordfake.Options{}, Options{})
	e.sink.mu.Lock()
	e.sink.winStart, e.sink.winCount = e.clock.Now(), invalidBudget
	e.sink.mu.Unlock()
	r := e.deliver(t, mention("a", "b"))[0]
	if r.Outcome != pipeline.RateLimited || r.RetryAfter != invalidWindow {
		t.Errorf("result=%+v, want rate limited for the rest of the window", r)
	}
	if e.fake.Count() != 0 {
		t.Errorf("a request was sent over the invalid-request budget")
	}
	e.clock.Advance(invalidWindow)
	if r := e.deliver(t, mention("a", "b"))[0]; r.Outcome != pipeline.Delivered {
		t.Errorf("next window: %s", r.Outcome)
	}
}
