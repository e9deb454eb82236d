package discord

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Rate-limit policy (reference A2, D).
const (
	// paceMargin is added to Reset-After before the next send, like
	// discord.js's 50 ms offset, so a send does not land just before the reset.
	paceMargin = 50 * time.Millisecond
	// maxPaceWait is the longest the sink waits inside Deliver for a bucket to
	// reset; longer waits are handed to the dispatcher as RateLimited.
	maxPaceWait = 10 * time.Second
	// defaultRateWait is used when a 429 carries no usable wait at all.
	defaultRateWait = 5 * time.Second
	// cloudflarePause is the least pause after a non-JSON (Cloudflare, error
	// 1015) 429: an IP-level block that is reported to last up to an hour
	// (dapi#5385); retrying soon only extends it.
	cloudflarePause = 15 * time.Minute
	// maxWait caps any wait read from a header or body, so a bad value cannot
	// stall the sink for days.
	maxWait = 6 * time.Hour
	// invalidWindow and invalidBudget keep 401/403/429 answers at a tenth of
	// Discord's ban threshold (10,000 per 10 minutes per IP).
	invalidWindow = 10 * time.Minute
	invalidBudget = 1000
)

// rateInfo is what one response's headers say about the rate limits.
type rateInfo struct {
	bucket     string
	remaining  int           // -1 when absent
	resetAfter time.Duration // 0 when absent
	retryAfter time.Duration // Retry-After header, 0 when absent
	global     bool          // X-RateLimit-Global or X-RateLimit-Scope: global
	scope      string        // X-RateLimit-Scope: user, global, shared
	via        bool          // Discord-origin responses carry Via; Cloudflare's don't
}

func parseRate(h http.Header, now time.Time) rateInfo {
	ri := rateInfo{remaining: -1, bucket: h.Get("X-RateLimit-Bucket"), via: h.Get("Via") != ""}
	if v := h.Get("X-RateLimit-Remaining"); v != "" {
		if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n >= 0 {
			ri.remaining = n
		}
	}
	if d, ok := parseSeconds(h.Get("X-RateLimit-Reset-After")); ok {
		ri.resetAfter = d
	} else if v := h.Get("X-RateLimit-Reset"); v != "" {
		// Epoch seconds, possibly fractional: depends on our clock, so only a
		// fallback (arikawa uses it alone; discordgo prefers Reset-After).
		if f, ok := parseFloat(v); ok {
			if at := time.Unix(0, int64(f*1e9)); at.After(now) {
				ri.resetAfter = min(at.Sub(now), maxWait)
			}
		}
	}
	ri.retryAfter, _ = parseSeconds(h.Get("Retry-After"))
	ri.scope = strings.ToLower(strings.TrimSpace(h.Get("X-RateLimit-Scope")))
	g := strings.ToLower(strings.TrimSpace(h.Get("X-RateLimit-Global")))
	ri.global = g == "true" || g == "1" || ri.scope == "global"
	return ri
}

// parseSeconds reads a seconds value, integer or float, tolerating junk
// after the first number (a real header read "2814, 2").
func parseSeconds(v string) (time.Duration, bool) {
	f, ok := parseFloat(v)
	if !ok {
		return 0, false
	}
	return secs(f), true
}

func parseFloat(v string) (float64, bool) {
	v = strings.TrimSpace(v)
	if i := strings.IndexAny(v, ", ;"); i >= 0 {
		v = v[:i]
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
		return 0, false
	}
	return f, true
}

// secs converts float seconds to a duration, rounded up to the millisecond
// and capped at maxWait.
func secs(f float64) time.Duration {
	if f <= 0 || math.IsNaN(f) {
		return 0
	}
	if f >= maxWait.Seconds() {
		return maxWait
	}
	return time.Duration(math.Ceil(f*1000)) * time.Millisecond
}

// rateBody is Discord's 429 JSON body.
type rateBody struct {
	Message    string  `json:"message"`
	RetryAfter float64 `json:"retry_after"`
	Global     bool    `json:"global"`
	Code       int     `json:"code"`
}
