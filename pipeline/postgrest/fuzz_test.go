package postgrest

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

// cannedRT is an http.RoundTripper answering every request with one response.
type cannedRT struct {
	status int
	header http.Header
	body   []byte
}

func (c cannedRT) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	return &http.Response{StatusCode: c.status, Header: c.header, Body: io.NopCloser(bytes.NewReader(c.body)), Request: r}, nil
}

// FuzzDeliverResponse feeds PostgREST / Supabase answers to the sink: one
// result per mention, no panic, a bounded number of requests (row isolation
// splits at most log2(batch) deep), and never the key in an error.
func FuzzDeliverResponse(f *testing.F) {
	f.Add(201, "", ``)
	f.Add(409, "", `{"code":"23505","details":"Key (message_id)=(x) already exists.","hint":null,"message":"duplicate key value violates unique constraint"}`)
	f.Add(400, "", `{"code":"23514","details":null,"hint":null,"message":"new row for relation \"kick_notifications\" violates check constraint \"message_max_500\""}`)
	f.Add(401, "", `{"code":"PGRST301","details":null,"hint":null,"message":"JWT expired"}`)
	f.Add(503, "7", `<html>gateway</html>`)
	f.Add(404, "", `{}`)
	f.Fuzz(func(t *testing.T, status int, retryAfter, body string) {
		if status < 100 || status > 999 {
			return
		}
		h := http.Header{"Content-Type": {"application/json"}, "Retry-After": {retryAfter}}
		s, err := New(Options{URL: "https://example.supabase.co/rest/v1", APIKey: fakeKey,
			HTTPClient: &http.Client{Transport: cannedRT{status, h, []byte(body)}}})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		ms := make([]pipeline.Mention, 7)
		for i := range ms {
			ms[i] = mention(pipeline.KindMention, "hi @me")
			ms[i].MessageID = string(rune('a' + i))
		}
		res := s.Deliver(ctx, ms)
		if len(res) != len(ms) {
			t.Fatalf("%d results for %d mentions", len(res), len(ms))
		}
		for _, r := range res {
			if r.Outcome != pipeline.Delivered && r.Err == nil {
				t.Errorf("outcome %s without an error", r.Outcome)
			}
			if r.Err != nil && strings.Contains(r.Err.Error(), fakeKey) {
				t.Fatalf("error leaks the key: %v", r.Err)
			}
		}
	})
}
