package discord

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"kickwatch/pipeline"
)

const (
	maxResponseBody = 64 << 10 // Discord's answers are small; a proxy's HTML page may not be
	maxErrBody      = 1 << 10  // the part of an error body kept in Result.Err
)

// StatusError is a non-2xx answer from Discord. It holds no secret.
type StatusError struct {
	Status     int
	Code       int    // Discord's JSON error code; 0 if none
	Message    string // Discord's message, if any
	Scope      string // X-RateLimit-Scope of a 429
	RetryAfter time.Duration
	Body       string // the response body, cut to 1 KiB
}

// Error describes the answer; it never includes the webhook URL.
func (e *StatusError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "discord webhook: status %d", e.Status)
	if e.Code != 0 {
		fmt.Fprintf(&b, ", code %d", e.Code)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, " (%s)", e.Message)
	}
	if e.Scope != "" {
		fmt.Fprintf(&b, ", scope %s", e.Scope)
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, ", retry after %s", e.RetryAfter)
	}
	if e.Body != "" {
		b.WriteString(": ")
		b.WriteString(e.Body)
	}
	return b.String()
}

// Reasons given for a misconfigured sink: what is wrong and how to fix it.
const (
	reason404 = "the Discord webhook was deleted or its URL is wrong: create a new webhook and set discord.webhook_url"
	reason401 = "the Discord webhook token is invalid: copy the full webhook URL into discord.webhook_url again"
	reason403 = "Discord refuses this webhook (missing permissions or access): check the webhook's channel or create a new webhook and set discord.webhook_url"
)

// attempt is one request's verdict on all its embeds.
type attempt struct {
	res   pipeline.Result
	split bool // 400: the payload is bad; split to find the bad embeds
	halt  bool // do not send the rest of the batch
}

// errorBody is Discord's JSON error: {"message","code","errors"}.
type errorBody struct {
	Message string                     `json:"message"`
	Code    int                        `json:"code"`
	Errors  map[string]json.RawMessage `json:"errors"`
}

// post sends embeds as one message and classifies the answer.
func (s *Sink) post(ctx context.Context, embeds []embed) attempt {
	s.mu.Lock()
	hook := s.hook
	s.stats.Requests++
	s.mu.Unlock()

	body, err := messageBody(s.username, embeds)
	if err != nil {
		return attempt{res: pipeline.Result{Outcome: pipeline.Permanent, Err: fmt.Errorf("encode discord payload: %w", err)}}
	}
	rctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, hook.post, bytes.NewReader(body))
	if err != nil {
		return s.misconfigured(errBadWebhookURL, false)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", userAgent)
	resp, err := s.client.Do(req)
	if err != nil {
		return s.transportFailure(ctx, rctx, hook, err)
	}
	defer resp.Body.Close()
	data, readErr := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
	now := s.now()
	info := parseRate(resp.Header, now)
	s.observe(info, now)

	switch st := resp.StatusCode; {
	case st >= 200 && st <= 299:
		// Posted, whatever the body says: a body we cannot read only costs the ref.
		s.mu.Lock()
		s.stats.Delivered += uint64(len(embeds))
		s.mu.Unlock()
		ref := ""
		if readErr == nil {
			ref = messageID(data)
		}
		return attempt{res: pipeline.Result{Outcome: pipeline.Delivered, RemoteRef: ref}}
	case readErr != nil && isTimeout(rctx, readErr):
		return s.timedOut(fmt.Errorf("read discord response: %s", hook.redact(readErr.Error())))
	case st == http.StatusTooManyRequests:
		return s.onRateLimit(info, resp.Header, data, now)
	case st == http.StatusNotFound, st == http.StatusUnauthorized, st == http.StatusForbidden:
		return s.onRefused(st, data)
	case st == http.StatusBadRequest, st == http.StatusRequestEntityTooLarge:
		return s.onBadRequest(st, data)
	case st >= 500, st == http.StatusRequestTimeout, st == http.StatusTooEarly:
		se := statusError(st, data)
		se.RetryAfter = info.retryAfter
		return attempt{res: pipeline.Result{Outcome: pipeline.Retry, RetryAfter: info.retryAfter, Err: se}, halt: true}
	default:
		// A redirect or an unexpected 4xx: the URL does not lead to a webhook.
		return s.misconfigured(fmt.Errorf("the Discord webhook URL answers unexpectedly: check discord.webhook_url: %w", statusError(st, data)), false)
	}
}

// messageID is the id of the message object a wait=true request returns.
func messageID(data []byte) string {
	var m struct {
		ID string `json:"id"`
	}
	if len(data) == 0 || json.Unmarshal(data, &m) != nil || !allDigits(m.ID) {
		return ""
	}
	return m.ID
}

func statusError(status int, data []byte) *StatusError {
	se := &StatusError{Status: status, Body: bounded(data)}
	var eb errorBody
	if json.Unmarshal(data, &eb) == nil {
		se.Code = eb.Code
		se.Message = bounded([]byte(eb.Message))
	}
	return se
}

// bounded is body as printable text, cut to maxErrBody bytes.
func bounded(body []byte) string {
	s := strings.ToValidUTF8(string(bytes.TrimSpace(body)), "\uFFFD")
	if len(s) > maxErrBody {
		s = s[:maxErrBody]
		for !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
		s += "…"
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 {
			return ' '
		}
		return r
	}, s)
}

// observe paces the next send when the bucket is empty.
func (s *Sink) observe(info rateInfo, now time.Time) {
	if info.remaining != 0 || info.resetAfter <= 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pacedUntil = later(s.pacedUntil, now.Add(info.resetAfter+paceMargin))
}

// onRateLimit handles a 429 (reference A2): wait max(Retry-After,
// retry_after); a global scope pauses everything; a non-JSON answer is a
// Cloudflare block and pauses much longer.
func (s *Sink) onRateLimit(info rateInfo, h http.Header, data []byte, now time.Time) attempt {
	var rb rateBody
	isJSON := len(bytes.TrimSpace(data)) > 0 && bytes.TrimSpace(data)[0] == '{' && json.Unmarshal(data, &rb) == nil
	wait := info.retryAfter
	if isJSON {
		wait = max(wait, secs(rb.RetryAfter))
	}
	se := &StatusError{Status: http.StatusTooManyRequests, Code: rb.Code, Message: bounded([]byte(rb.Message)), Scope: info.scope}
	cloudflare := !isJSON || rb.Code == 40333
	global := rb.Global || info.global || (!info.via && info.bucket == "")

	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.Status429++
	switch {
	case cloudflare:
		wait = max(wait, cloudflarePause)
		s.globalPause = later(s.globalPause, now.Add(wait))
		s.stats.Cloudflare429++
		s.countInvalid(now)
		se.Body = bounded(data)
		if len(se.Body) > 200 {
			se.Body = se.Body[:200] + "…"
		}
		s.log.Error("discord blocked this IP (Cloudflare 429); pausing", "pause", wait)
	case global:
		wait = cmpWait(wait)
		s.globalPause = later(s.globalPause, now.Add(wait))
		s.stats.Global429++
		s.countInvalid(now)
		s.log.Warn("discord global rate limit; pausing", "pause", wait)
	default:
		wait = cmpWait(wait)
		s.hookPause = later(s.hookPause, now.Add(wait))
		if info.scope == "shared" {
			s.stats.Shared429++ // not counted towards the ban threshold (A2)
		} else {
			s.countInvalid(now)
		}
		s.log.Warn("discord rate limit; pausing webhook", "scope", info.scope, "pause", wait)
	}
	se.RetryAfter = wait
	return attempt{res: pipeline.Result{Outcome: pipeline.RateLimited, RetryAfter: wait, Err: se}, halt: true}
}

func cmpWait(w time.Duration) time.Duration {
	if w <= 0 {
		return defaultRateWait
	}
	return w
}

// countInvalid counts a 401/403/429 in the 10-minute window; s.mu is held.
func (s *Sink) countInvalid(now time.Time) {
	if now.Sub(s.winStart) >= invalidWindow {
		s.winStart, s.winCount = now, 0
	}
	s.winCount++
	s.stats.Invalid++
}

// onRefused handles 401, 403 and 404: the webhook cannot be used, and
// Discord restricts clients that keep using a 404 webhook (A2), so the sink
// sends nothing more until reconfigured.
func (s *Sink) onRefused(status int, data []byte) attempt {
	se := statusError(status, data)
	reason := reason404
	s.mu.Lock()
	switch status {
	case http.StatusUnauthorized:
		reason = reason401
		s.stats.Status401++
		s.countInvalid(s.now())
	case http.StatusForbidden:
		reason = reason403
		s.stats.Status403++
		s.countInvalid(s.now())
	default:
		s.stats.Status404++
	}
	s.mu.Unlock()
	return s.misconfigured(fmt.Errorf("%s: %w", reason, se), true)
}

// misconfigured pauses the sink; sticky blocks further requests until
// SetWebhookURL.
func (s *Sink) misconfigured(err error, sticky bool) attempt {
	s.mu.Lock()
	first := s.blocked == nil
	if sticky {
		s.blocked = err
	}
	s.mu.Unlock()
	if first {
		s.log.Error("discord sink misconfigured; delivery paused", "error", err)
	}
	return attempt{res: pipeline.Result{Outcome: pipeline.Misconfigured, Err: err}, halt: true}
}

// onBadRequest handles 400 (and 413): this payload is bad. A config problem
// named in the body (the username override, a forum channel without thread)
// affects every message, so it is Misconfigured, not a dead letter.
func (s *Sink) onBadRequest(status int, data []byte) attempt {
	se := statusError(status, data)
	var eb errorBody
	_ = json.Unmarshal(data, &eb)
	_, badName := eb.Errors["username"]
	_, badAvatar := eb.Errors["avatar_url"]
	if badName || badAvatar || (eb.Code >= 220001 && eb.Code <= 220003) {
		return s.misconfigured(fmt.Errorf("discord rejects the webhook settings: check discord.username and the webhook's channel: %w", se), false)
	}
	s.log.Warn("discord rejected a payload", "error", se)
	return attempt{res: pipeline.Result{Outcome: pipeline.Permanent, Err: se}, split: true}
}

// transportFailure classifies a failed round trip. net/http's *url.Error
// holds the full URL, token included: only its inner error is kept, and its
// text is scrubbed of the URL and token too.
func (s *Sink) transportFailure(ctx, rctx context.Context, hook webhook, err error) attempt {
	inner := err
	var ue *url.Error
	if errors.As(err, &ue) {
		inner = ue.Err
	}
	if ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return attempt{res: pipeline.Result{Outcome: pipeline.Retry, Err: fmt.Errorf("post discord webhook: %w", ctx.Err())}, halt: true}
	}
	wrapped := &scrubbed{op: "post discord webhook", msg: hook.redact(inner.Error()), err: inner}
	if isTimeout(rctx, inner) {
		return s.timedOut(wrapped)
	}
	return attempt{res: pipeline.Result{Outcome: pipeline.Retry, Err: wrapped}, halt: true}
}

func (s *Sink) timedOut(err error) attempt {
	s.mu.Lock()
	s.stats.Timeouts++
	s.mu.Unlock()
	return attempt{res: pipeline.Result{Outcome: pipeline.Retry, Err: err, Timeout: true}, halt: true}
}

func isTimeout(rctx context.Context, err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(rctx.Err(), context.DeadlineExceeded) ||
		(errors.As(err, &ne) && ne.Timeout())
}

// scrubbed is a transport error whose text has been cleaned of secrets.
type scrubbed struct {
	op, msg string
	err     error
}

func (e *scrubbed) Error() string { return e.op + ": " + e.msg }
func (e *scrubbed) Unwrap() error { return e.err }
