package discord

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"kickwatch/pipeline"
)

// canned is an http.RoundTripper answering every request with one response.
type canned struct {
	status int
	header http.Header
	body   []byte
}

func (c canned) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	return &http.Response{StatusCode: c.status, Header: c.header, Body: io.NopCloser(bytes.NewReader(c.body)), Request: r}, nil
}

// FuzzDeliverResponse feeds Discord answers (status, rate-limit headers,
// body) to the sink: it must return one result per mention, never panic,
// never wait without bound and never echo the webhook token.
func FuzzDeliverResponse(f *testing.F) {
	f.Add(200, "1", "0.5", "user", `{"id":"1234567890123456789"}`)
	f.Add(429, "3", "2.5", "shared", `{"message": "The resource is being rate limited.", "retry_after": 2.5, "global": false}`)
	f.Add(429, "", "", "global", `<html>error code: 1015</html>`)
	f.Add(404, "", "", "", `{"message": "Unknown Webhook", "code": 10015}`)
	f.Add(400, "", "", "", `{"code": 50035, "errors": {"embeds": {"0": {"description": {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH"}]}}}}}`)
	f.Add(503, "abc", "-1", "x", "upstream connect error")
	f.Fuzz(func(t *testing.T, status int, retryAfter, resetAfter, scope, body string) {
		if status < 100 || status > 999 {
			return
		}
		h := http.Header{}
		h.Set("Content-Type", "application/json")
		h.Set("Retry-After", retryAfter)
		h.Set("X-RateLimit-Reset-After", resetAfter)
		h.Set("X-RateLimit-Scope", scope)
		h.Set("X-RateLimit-Remaining", "0")
		url := "https://discord.com/api/webhooks/123456789012345678/" + secretToken
		s, err := New(Options{WebhookURL: url, HTTPClient: &http.Client{Transport: canned{status, h, []byte(body)}},
			Sleep: func(ctx context.Context, d time.Duration) error { return nil }})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		ms := []pipeline.Mention{mention("a", "hi @me"), mention("b", "yo @me")}
		ms[1].MessageID = "other"
		res := s.Deliver(ctx, ms)
		if len(res) != len(ms) {
			t.Fatalf("%d results for %d mentions", len(res), len(ms))
		}
		for _, r := range res {
			if r.Outcome != pipeline.Delivered && r.Err == nil {
				t.Errorf("outcome %s without an error", r.Outcome)
			}
			if r.Err != nil && strings.Contains(r.Err.Error(), secretToken) {
				t.Fatalf("error leaks the token: %v", r.Err)
			}
			if r.RetryAfter < 0 {
				t.Errorf("negative RetryAfter %v", r.RetryAfter)
			}
		}
	})
}
