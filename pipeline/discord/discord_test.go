package discord

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"kickwatch/pipeline"
	"kickwatch/pipeline/discord/discordfake"
)

func TestDeliver_MentionGetsMessageID(t *testing.T) {
	e := newEnv(t, discordfake.Options{}, Options{})
	m := mention("Viewer_One", "hey @Target_User look at this [emote:37226:KEKW]")
	res := e.deliver(t, m)
	if res[0].Outcome != pipeline.Delivered || !allDigits(res[0].RemoteRef) {
		t.Fatalf("result=%+v, want delivered with a snowflake ref", res[0])
	}
	reqs := e.fake.Requests()
	if len(reqs) != 1 {
		t.Fatalf("requests=%d, want 1", len(reqs))
	}
	r := reqs[0]
	if got := r.Query.Get("wait"); got != "true" {
		t.Errorf("wait=%q, want true", got)
	}
	if got := r.Header.Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type=%q", got)
	}
	if got := r.Header.Get("User-Agent"); !strings.HasPrefix(got, "DiscordBot (") {
		t.Errorf("User-Agent=%q, want DiscordBot (url, version)", got)
	}
	want, _ := messageBody("", render(m))
	if !bytes.Equal(r.Body, want) {
		t.Errorf("body=%s\nwant %s", r.Body, want)
	}
	if st := e.sink.Stats(); st.Requests != 1 || st.Delivered != 1 {
		t.Errorf("stats=%+v", st)
	}
}

func TestDeliver_KeepsQueryAndUsername(t *testing.T) {
	e := newEnv(t, discordfake.Options{}, Options{})
	s, err := New(Options{WebhookURL: e.fake.WebhookURL() + "?thread_id=42", Username: "kickwatch", Now: e.clock.Now, Sleep: e.clock.Sleep})
	if err != nil {
		t.Fatal(err)
	}
	if res := s.Deliver(t.Context(), []pipeline.Mention{mention("a", "b")}); res[0].Outcome != pipeline.Delivered {
		t.Fatalf("result=%+v", res[0])
	}
	r := e.fake.Requests()[0]
	if r.Query.Get("thread_id") != "42" || r.Query.Get("wait") != "true" {
		t.Errorf("query=%v, want thread_id=42 and wait=true", r.Query)
	}
	if r.Payload == nil || r.Payload.Username == nil || *r.Payload.Username != "kickwatch" {
		t.Errorf("username not sent")
	}
}

func TestDeliver_CoalescesBacklog(t *testing.T) {
	e := newEnv(t, discordfake.Options{}, Options{})
	res := e.deliver(t, batch(10)...)
	if got, want := outcomes(res), repeat(pipeline.Delivered, 10); got != want {
		t.Fatalf("outcomes=%s, want %s", got, want)
	}
	reqs := e.fake.Requests()
	if len(reqs) != 1 || len(reqs[0].Payload.Embeds) != 10 {
		t.Fatalf("requests=%d, want one with 10 embeds", len(reqs))
	}
	for i := range res {
		if res[i].RemoteRef != res[0].RemoteRef || res[i].RemoteRef == "" {
			t.Errorf("ref %d=%q, want the request's %q", i, res[i].RemoteRef, res[0].RemoteRef)
		}
	}

	// Big messages: ~2,200 code points each, so two per request.
	big := batch(5)
	for i := range big {
		big[i] = reply(big[i].Sender, strings.Repeat("m", 2000), strings.Repeat("o", 2000))
	}
	res = e.deliver(t, big...)
	if got, want := outcomes(res), repeat(pipeline.Delivered, 5); got != want {
		t.Fatalf("outcomes=%s, want %s", got, want)
	}
	reqs = e.fake.Requests()[1:]
	var sizes []int
	for _, r := range reqs {
		sizes = append(sizes, len(r.Payload.Embeds))
	}
	if len(reqs) != 3 || sizes[0] != 2 || sizes[1] != 2 || sizes[2] != 1 {
		t.Errorf("embeds per request=%v, want [2 2 1]", sizes)
	}
	if res[0].RemoteRef != res[1].RemoteRef || res[1].RemoteRef == res[2].RemoteRef || res[2].RemoteRef == res[4].RemoteRef {
		t.Errorf("refs %v do not follow the requests", []string{res[0].RemoteRef, res[1].RemoteRef, res[2].RemoteRef, res[3].RemoteRef, res[4].RemoteRef})
	}
}

func TestDeliver_StatusClasses(t *testing.T) {
	retryAfter := func(f discordfake.Fault, v string) discordfake.Fault {
		f.Header = http.Header{"Retry-After": {v}}
		return f
	}
	tests := []struct {
		name       string
		fault      discordfake.Fault
		want       pipeline.Outcome
		ref        bool
		retryAfter time.Duration
		errHas     string
	}{
		{"200 message", discordfake.OK(), pipeline.Delivered, true, 0, ""},
		{"200 invalid JSON", discordfake.InvalidJSON(), pipeline.Delivered, false, 0, ""},
		{"204", discordfake.Status(204), pipeline.Delivered, false, 0, ""},
		{"201 other 2xx", discordfake.Fault{Status: 201, Body: "{}"}, pipeline.Delivered, false, 0, ""},
		{"400", discordfake.Status(400), pipeline.Permanent, false, 0, "50035"},
		{"400 username", discordfake.Fault{Status: 400, Body: `{"message": "Invalid Form Body", "code": 50035, "errors": {"username": {"_errors": [{"code": "USERNAME_INVALID_CONTAINS", "message": "Username cannot contain \"discord\""}]}}}`}, pipeline.Misconfigured, false, 0, "username"},
		{"401", discordfake.Status(401), pipeline.Misconfigured, false, 0, "token is invalid"},
		{"403", discordfake.Status(403), pipeline.Misconfigured, false, 0, "50013"},
		{"404", discordfake.Status(404), pipeline.Misconfigured, false, 0, "create a new webhook and set discord.webhook_url"},
		{"405", discordfake.Status(405), pipeline.Misconfigured, false, 0, "405"},
		{"redirect", discordfake.Fault{Status: 301, Header: http.Header{"Location": {"https://evil.example/"}}}, pipeline.Misconfigured, false, 0, "301"},
		{"413", discordfake.Fault{Status: 413, Body: `{"message": "Request entity too large", "code": 40005}`}, pipeline.Permanent, false, 0, "40005"},
		{"429", discordfake.Status(429), pipeline.RateLimited, false, 2 * time.Second, "429"},
		{"500", discordfake.Status(500), pipeline.Retry, false, 0, "500"},
		{"502 HTML", discordfake.Status(502), pipeline.Retry, false, 0, "502 Bad Gateway"},
		{"503 Retry-After", retryAfter(discordfake.Status(503), "7"), pipeline.Retry, false, 7 * time.Second, "130000"},
		{"reset", discordfake.Reset(), pipeline.Retry, false, 0, "post discord webhook"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, discordfake.Options{}, Options{})
			e.fake.Script(tt.fault)
			r := e.deliver(t, mention("a", "b"))[0]
			if r.Outcome != tt.want {
				t.Fatalf("outcome=%s, want %s (err %v)", r.Outcome, tt.want, r.Err)
			}
			if got := r.RemoteRef != ""; got != tt.ref {
				t.Errorf("ref=%q, want ref %t", r.RemoteRef, tt.ref)
			}
			if r.RetryAfter != tt.retryAfter {
				t.Errorf("RetryAfter=%s, want %s", r.RetryAfter, tt.retryAfter)
			}
			if r.Timeout {
				t.Errorf("Timeout set")
			}
			if tt.errHas != "" && (r.Err == nil || !strings.Contains(r.Err.Error(), tt.errHas)) {
				t.Errorf("err=%v, want it to mention %q", r.Err, tt.errHas)
			}
		})
	}
}

func TestDeliver_RefusedWebhookStopsRequests(t *testing.T) {
	for _, status := range []int{401, 403, 404} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			e := newEnv(t, discordfake.Options{}, Options{})
			e.fake.Script(discordfake.Status(status))
			for range 3 {
				res := e.deliver(t, batch(3)...)
				if got, want := outcomes(res), repeat(pipeline.Misconfigured, 3); got != want {
					t.Fatalf("outcomes=%s, want %s", got, want)
				}
			}
			if got := e.fake.Count(); got != 1 {
				t.Errorf("requests=%d, want 1: a refused webhook must not be used again", got)
			}
			st := e.sink.Stats()
			if st.Refused != 2 {
				t.Errorf("refused=%d, want 2", st.Refused)
			}
			if want := map[int]uint64{401: st.Status401, 403: st.Status403, 404: st.Status404}[status]; want != 1 {
				t.Errorf("status counter=%d, want 1", want)
			}
			// Reconfigured: sends again.
			if err := e.sink.SetWebhookURL(e.fake.WebhookURL()); err != nil {
				t.Fatal(err)
			}
			if res := e.deliver(t, mention("a", "b")); res[0].Outcome != pipeline.Delivered {
				t.Errorf("after SetWebhookURL: %s, want delivered", res[0].Outcome)
			}
		})
	}
}

func TestDeliver_DeletedWebhook(t *testing.T) {
	e := newEnv(t, discordfake.Options{}, Options{})
	e.fake.DeleteWebhook()
	r := e.deliver(t, mention("a", "b"))[0]
	var se *StatusError
	if r.Outcome != pipeline.Misconfigured || !errors.As(r.Err, &se) || se.Code != 10015 {
		t.Fatalf("result=%+v, want misconfigured with code 10015", r)
	}
}

func TestDeliver_BadRequestIsolated(t *testing.T) {
	tests := []struct {
		name string
		bad  []int
	}{
		{"one of ten", []int{6}},
		{"two of ten", []int{2, 7}},
		{"first", []int{0}},
		{"all", []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, discordfake.Options{RejectMarker: "BADMARKER", BucketLimit: 1000}, Options{})
			ms := batch(10)
			want := make([]string, 10)
			for i := range want {
				want[i] = pipeline.Delivered.String()
			}
			for _, i := range tt.bad {
				ms[i].Content = "this one is BADMARKER"
				want[i] = pipeline.Permanent.String()
			}
			res := e.deliver(t, ms...)
			if got := outcomes(res); got != strings.Join(want, ",") {
				t.Fatalf("outcomes=%s, want %s", got, strings.Join(want, ","))
			}
			for _, i := range tt.bad {
				if !strings.Contains(res[i].Err.Error(), "50035") || !strings.Contains(res[i].Err.Error(), "reject marker") {
					t.Errorf("err %d=%v, want Discord's error body", i, res[i].Err)
				}
			}
			for i, r := range res {
				if r.Outcome == pipeline.Delivered && r.RemoteRef == "" {
					t.Errorf("result %d delivered without ref", i)
				}
			}
			// Every embed reached Discord once in a request that succeeded.
			seen := 0
			for _, r := range e.fake.Requests() {
				if r.Status == 200 {
					seen += len(r.Payload.Embeds)
				}
			}
			if want := 10 - len(tt.bad); seen != want {
				t.Errorf("embeds delivered=%d, want %d", seen, want)
			}
			if len(tt.bad) == 1 && e.fake.Count() > 8 {
				t.Errorf("requests=%d, want a binary split (≤ 8)", e.fake.Count())
			}
		})
	}
}

func TestDeliver_HaltsAfterFailure(t *testing.T) {
	e := newEnv(t, discordfake.Options{}, Options{})
	big := make([]pipeline.Mention, 6)
	for i := range big {
		big[i] = reply("s", strings.Repeat("m", 2000), strings.Repeat("o", 2000))
	}
	e.fake.Script(discordfake.OK(), discordfake.Status(500))
	res := e.deliver(t, big...)
	if got, want := outcomes(res), "delivered,delivered,retry,retry,retry,retry"; got != want {
		t.Fatalf("outcomes=%s, want %s", got, want)
	}
	if !strings.Contains(res[4].Err.Error(), "not sent") {
		t.Errorf("err=%v, want not sent", res[4].Err)
	}
	if got := e.fake.Count(); got != 2 {
		t.Errorf("requests=%d, want 2", got)
	}
}

func TestDeliver_HangTimesOut(t *testing.T) {
	e := newEnv(t, discordfake.Options{}, Options{Timeout: 100 * time.Millisecond})
	e.fake.Script(discordfake.Hang())
	r := e.deliver(t, batch(3)...)
	for i, r := range r {
		if r.Outcome != pipeline.Retry || !r.Timeout {
			t.Errorf("result %d=%+v, want retry with Timeout", i, r)
		}
	}
	if st := e.sink.Stats(); st.Timeouts != 1 {
		t.Errorf("timeouts=%d, want 1", st.Timeouts)
	}
	if r := e.deliver(t, mention("a", "b")); r[0].Outcome != pipeline.Delivered {
		t.Errorf("next=%s, want delivered", r[0].Outcome)
	}
}

func TestDeliver_SlowBodyAfter200(t *testing.T) {
	e := newEnv(t, discordfake.Options{}, Options{Timeout: 100 * time.Millisecond})
	e.fake.Script(discordfake.SlowBody(0))
	r := e.deliver(t, mention("a", "b"))[0]
	if r.Outcome != pipeline.Delivered || r.RemoteRef != "" {
		t.Errorf("result=%+v, want delivered without ref: a 200 means the message was posted", r)
	}
}

func TestDeliver_CallerContext(t *testing.T) {
	arrived := make(chan struct{}, 10)
	e := newEnv(t, discordfake.Options{OnRequest: func(discordfake.Request) { arrived <- struct{}{} }}, Options{})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	r := e.sink.Deliver(ctx, []pipeline.Mention{mention("a", "b")})[0]
	if r.Outcome != pipeline.Retry || !errors.Is(r.Err, context.Canceled) {
		t.Errorf("result=%+v, want retry with context.Canceled", r)
	}
	if e.fake.Count() != 0 {
		t.Errorf("a request was sent with a cancelled context")
	}

	// Cancelled while the request hangs.
	e.fake.Script(discordfake.Hang())
	ctx, cancel = context.WithCancel(t.Context())
	done := make(chan pipeline.Result)
	go func() { done <- e.sink.Deliver(ctx, []pipeline.Mention{mention("a", "b")})[0] }()
	<-arrived
	cancel()
	if r := <-done; r.Outcome != pipeline.Retry || r.Timeout || !errors.Is(r.Err, context.Canceled) {
		t.Errorf("result=%+v, want retry, no timeout", r)
	}
}

func TestDeliver_SecretNeverInErrors(t *testing.T) {
	faults := []discordfake.Fault{
		discordfake.Status(400), discordfake.Status(500), discordfake.Status(502), discordfake.Hang(),
		discordfake.Reset(), discordfake.Cloudflare1015(),
	}
	for _, f := range faults {
		e := newEnv(t, discordfake.Options{}, Options{Timeout: 50 * time.Millisecond})
		e.fake.Script(f)
		e.deliver(t, mention("a", "b")) // deliver checks every Err
	}
	// Connection refused.
	e := newEnv(t, discordfake.Options{}, Options{})
	e.fake.Close()
	r := e.deliver(t, mention("a", "b"))[0]
	if r.Outcome != pipeline.Retry {
		t.Errorf("closed server: %s, want retry", r.Outcome)
	}
	// Bad URLs.
	for _, u := range []string{
		"https://evil.example/api/webhooks/1/" + secretToken,
		"http://discord.com/api/webhooks/1/" + secretToken,
		"https://discord.com/api/webhooks/x/" + secretToken,
		"https://discord.com/api/webhooks/1/" + secretToken + "%zz",
		"https://discord.com/api/webhooks/1/" + secretToken + "#frag",
		"https://user:" + secretToken + "@discord.com/api/webhooks/1/abc",
	} {
		_, err := New(Options{WebhookURL: u})
		if err == nil {
			t.Errorf("New(%q) accepted", u)
			continue
		}
		checkNoSecret(t, err, secretToken)
	}
}

func TestNew_WebhookURL(t *testing.T) {
	tests := []struct {
		url string
		ok  bool
	}{
		{"https://discord.com/api/webhooks/123456789012345678/abcDEF-_ghijklmnop", true},
		{"https://discordapp.com/api/webhooks/123/abcdefghijkl", true},
		{"https://canary.discord.com/api/v10/webhooks/123/abcdefghijkl", true},
		{"https://ptb.discord.com/api/webhooks/123/abcdefghijkl?thread_id=5", true},
		{"http://127.0.0.1:8080/anything", true},
		{"http://[::1]:9/x", true},
		{"http://localhost/x", true},
		{"https://discord.com/api/webhooks/123", false},
		{"https://discord.com/api/webhooks/123/abcdefghijkl/extra", false},
		{"https://discord.com.evil.example/api/webhooks/123/abcdefghijkl", false},
		{"https://discord.com:8443/api/webhooks/123/abcdefghijkl", false},
		{"ftp://127.0.0.1/x", false},
		{"", false},
	}
	for _, tt := range tests {
		_, err := New(Options{WebhookURL: tt.url})
		if got := err == nil; got != tt.ok {
			t.Errorf("New(%q) ok=%t, want %t (err %v)", tt.url, got, tt.ok, err)
		}
	}
	for _, u := range []string{"Discord Bot", "clyde", "everyone", strings.Repeat("n", 81)} {
		if _, err := New(Options{WebhookURL: "http://127.0.0.1/x", Username: u}); err == nil {
			t.Errorf("username %q accepted", u)
		}
	}
}

func TestSink_Interface(t *testing.T) {
	var s pipeline.Sink
	s, err := New(Options{WebhookURL: "http://127.0.0.1/x"})
	if err != nil {
		t.Fatal(err)
	}
	if s.Name() != "discord" || s.MaxBatch() != 10 {
		t.Errorf("Name=%q MaxBatch=%d", s.Name(), s.MaxBatch())
	}
	if res := s.Deliver(t.Context(), nil); len(res) != 0 {
		t.Errorf("results for no mentions: %d", len(res))
	}
}
