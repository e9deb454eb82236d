package discordfake

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func start(t *testing.T, o Options) (*Server, *clock) {
	t.Helper()
	c := &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	if o.Now == nil {
		o.Now = c.Now
	}
	s := New(o)
	t.Cleanup(s.Close)
	return s, c
}

type reply struct {
	status int
	header http.Header
	body   string
}

func post(t *testing.T, ctx context.Context, url, body string) (reply, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, resp.Header, string(b)}, err
}

func mustPost(t *testing.T, url, body string) reply {
	t.Helper()
	r, err := post(t, t.Context(), url, body)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

const okBody = `{"embeds":[{"title":"t","description":"d","fields":[{"name":"n","value":"v"}],"footer":{"text":"f"}}],"allowed_mentions":{"parse":[]}}`

func code(t *testing.T, body string) int {
	t.Helper()
	var v struct {
		Code int `json:"code"`
	}
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("body %q: %v", body, err)
	}
	return v.Code
}

func TestServer_Success(t *testing.T) {
	s, _ := start(t, Options{})
	r := mustPost(t, s.WebhookURL()+"?wait=true&thread_id=77", okBody)
	if r.status != 200 {
		t.Fatalf("status=%d body=%s", r.status, r.body)
	}
	var m struct {
		Embeds []Embed `json:"embeds"`
		Author struct {
			Bot bool `json:"bot"`
		} `json:"author"`
	}
	var raw map[string]any
	if err := json.Unmarshal([]byte(r.body), &raw); err != nil {
		t.Fatal(err)
	}
	_ = json.Unmarshal([]byte(r.body), &m)
	if id, _ := raw["id"].(string); len(id) < 15 || strings.Trim(id, "0123456789") != "" {
		t.Errorf("id=%v, want a snowflake", raw["id"])
	}
	if raw["channel_id"] != "77" || raw["webhook_id"] != DefaultWebhookID || !m.Author.Bot || len(m.Embeds) != 1 {
		t.Errorf("message=%s", r.body)
	}
	for _, h := range []string{"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "X-RateLimit-Reset-After", "X-RateLimit-Bucket", "Via"} {
		if r.header.Get(h) == "" {
			t.Errorf("header %s missing", h)
		}
	}
	if r := mustPost(t, s.WebhookURL(), okBody); r.status != 204 || r.body != "" {
		t.Errorf("without wait: %d %q, want 204 and no body", r.status, r.body)
	}
	reqs := s.Requests()
	if len(reqs) != 2 || reqs[0].Payload == nil || reqs[0].Query.Get("thread_id") != "77" || reqs[0].Status != 200 {
		t.Errorf("recorded %+v", reqs)
	}
}

func TestServer_BucketAndEarly(t *testing.T) {
	s, c := start(t, Options{BucketLimit: 5, BucketWindow: 2 * time.Second})
	for i := range 5 {
		r := mustPost(t, s.WebhookURL(), okBody)
		if got, want := r.header.Get("X-RateLimit-Remaining"), fmt.Sprint(4-i); got != want {
			t.Errorf("request %d: remaining=%s, want %s", i, got, want)
		}
	}
	c.Advance(500 * time.Millisecond)
	r := mustPost(t, s.WebhookURL(), okBody)
	if r.status != 429 || r.header.Get("X-RateLimit-Scope") != "user" || r.header.Get("Retry-After") != "2" {
		t.Fatalf("6th: %d %v", r.status, r.header)
	}
	var rb struct {
		RetryAfter float64 `json:"retry_after"`
		Global     bool    `json:"global"`
		Message    string  `json:"message"`
	}
	if err := json.Unmarshal([]byte(r.body), &rb); err != nil || rb.RetryAfter != 1.5 || rb.Global || rb.Message == "" {
		t.Errorf("429 body=%s", r.body)
	}
	if s.Early() != 1 {
		t.Errorf("early=%d, want 1", s.Early())
	}
	c.Advance(1500 * time.Millisecond)
	if r := mustPost(t, s.WebhookURL(), okBody); r.status != 204 || r.header.Get("X-RateLimit-Remaining") != "4" {
		t.Errorf("after reset: %d remaining %s", r.status, r.header.Get("X-RateLimit-Remaining"))
	}
	if s.Early() != 1 {
		t.Errorf("early=%d after the reset, want 1", s.Early())
	}
}

func TestServer_ChannelLimit(t *testing.T) {
	s, c := start(t, Options{BucketLimit: 100, ChannelLimit: 3})
	for range 3 {
		mustPost(t, s.WebhookURL(), okBody)
	}
	c.Advance(15 * time.Second)
	r := mustPost(t, s.WebhookURL(), okBody)
	if r.status != 429 || r.header.Get("X-RateLimit-Scope") != "shared" || r.header.Get("X-RateLimit-Remaining") == "0" || r.header.Get("Retry-After") != "45" {
		t.Errorf("got %d %v %s, want a shared 429 of 45 s with quota remaining", r.status, r.header, r.body)
	}
}

func TestServer_CannedFaults(t *testing.T) {
	tests := []struct {
		fault  Fault
		status int
		code   int
		ctype  string
	}{
		{Status(400), 400, 50035, "application/json"},
		{Status(401), 401, 50027, "application/json"},
		{Status(403), 403, 50013, "application/json"},
		{Status(404), 404, 10015, "application/json"},
		{Status(500), 500, 0, "application/json"},
		{Status(502), 502, -1, "text/html"},
		{Status(503), 503, 130000, "application/json"},
		{Cloudflare1015(), 429, -1, "text/plain; charset=UTF-8"},
		{RateLimit("global", 2), 429, 0, "application/json"},
	}
	for _, tt := range tests {
		s, _ := start(t, Options{})
		s.Script(tt.fault)
		r := mustPost(t, s.WebhookURL()+"?wait=true", okBody)
		if r.status != tt.status || r.header.Get("Content-Type") != tt.ctype {
			t.Errorf("%+v: %d %q", tt.fault, r.status, r.header.Get("Content-Type"))
		}
		if tt.code >= 0 && code(t, r.body) != tt.code {
			t.Errorf("%d: body %s, want code %d", tt.status, r.body, tt.code)
		}
	}
	s, _ := start(t, Options{})
	s.Script(RateLimit("global", 2), Cloudflare1015())
	g := mustPost(t, s.WebhookURL(), okBody)
	if g.header.Get("X-RateLimit-Global") != "true" || g.header.Get("X-RateLimit-Scope") != "global" || g.header.Get("X-RateLimit-Bucket") != "" || !strings.Contains(g.body, `"global": true`) {
		t.Errorf("global 429: %v %s", g.header, g.body)
	}
	cf := mustPost(t, s.WebhookURL(), okBody)
	if cf.body != "error code: 1015" || cf.header.Get("Via") != "" || cf.header.Get("X-RateLimit-Limit") != "" {
		t.Errorf("cloudflare 429: %v %q", cf.header, cf.body)
	}
}

func TestServer_Validation(t *testing.T) {
	tooMany := `{"embeds":[` + strings.TrimSuffix(strings.Repeat(`{"title":"t"},`, 11), ",") + `]}`
	big := strings.Repeat("x", 1024)
	over6000 := `{"embeds":[` + strings.TrimSuffix(strings.Repeat(`{"fields":[{"name":"n","value":"`+big+`"}]},`, 6), ",") + `]}`
	tests := []struct {
		name, body string
		code       int
		errorsHas  string
	}{
		{"empty", `{}`, 50006, ""},
		{"invalid JSON", `{"embeds":`, 50109, ""},
		{"11 embeds", tooMany, 50035, "Must be 10 or fewer"},
		{"empty field", `{"embeds":[{"fields":[{"name":"n","value":"  "}]}]}`, 50035, "BASE_TYPE_REQUIRED"},
		{"long value", `{"embeds":[{"fields":[{"name":"n","value":"` + big + `x"}]}]}`, 50035, "1024"},
		{"6000 total", over6000, 50035, "6000"},
		{"username", `{"content":"x","username":"my discord bot"}`, 50035, "USERNAME_INVALID_CONTAINS"},
		{"allowed mentions", `{"content":"x","allowed_mentions":{"parse":["nope"]}}`, 50035, "BASE_TYPE_CHOICES"},
	}
	s, _ := start(t, Options{BucketLimit: 1000})
	for _, tt := range tests {
		r := mustPost(t, s.WebhookURL(), tt.body)
		if r.status != 400 || code(t, r.body) != tt.code || !strings.Contains(r.body, tt.errorsHas) {
			t.Errorf("%s: %d %s, want 400 code %d with %q", tt.name, r.status, r.body, tt.code, tt.errorsHas)
		}
	}
	// Code points, not bytes: 1024 emoji fit.
	emoji := `{"embeds":[{"fields":[{"name":"n","value":"` + strings.Repeat("😀", 1024) + `"}]}]}`
	if r := mustPost(t, s.WebhookURL(), emoji); r.status != 204 {
		t.Errorf("1024 emoji: %d %s", r.status, r.body)
	}
}

func TestServer_Routes(t *testing.T) {
	s, _ := start(t, Options{RejectMarker: "ZAP"})
	base := s.URL() + "/api/webhooks/" + DefaultWebhookID + "/"
	if r := mustPost(t, base+"wrong-token", okBody); r.status != 401 || code(t, r.body) != 50027 {
		t.Errorf("wrong token: %d %s", r.status, r.body)
	}
	if r := mustPost(t, s.URL()+"/api/webhooks/1/"+DefaultToken, okBody); r.status != 404 || code(t, r.body) != 10015 {
		t.Errorf("wrong id: %d %s", r.status, r.body)
	}
	if r := mustPost(t, s.URL()+"/api/v10/webhooks/"+DefaultWebhookID+"/"+DefaultToken, okBody); r.status != 204 {
		t.Errorf("versioned path: %d %s", r.status, r.body)
	}
	if r := mustPost(t, s.WebhookURL(), strings.Replace(okBody, `"d"`, `"a ZAP b"`, 1)); r.status != 400 || !strings.Contains(r.body, `"0"`) {
		t.Errorf("marker: %d %s", r.status, r.body)
	}
	s.DeleteWebhook()
	if r := mustPost(t, s.WebhookURL(), okBody); r.status != 404 {
		t.Errorf("deleted: %d", r.status)
	}
}

func TestServer_TransportFaults(t *testing.T) {
	s, _ := start(t, Options{})
	s.Script(Hang(), Reset(), SlowBody(0), InvalidJSON())
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if _, err := post(t, ctx, s.WebhookURL(), okBody); err == nil {
		t.Error("hang: no error")
	}
	if _, err := post(t, t.Context(), s.WebhookURL(), okBody); err == nil {
		t.Error("reset: no error")
	}
	ctx, cancel = context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if r, err := post(t, ctx, s.WebhookURL()+"?wait=true", okBody); err == nil || r.status != 200 {
		t.Errorf("slow body: status %d err %v, want 200 then a read error", r.status, err)
	}
	r := mustPost(t, s.WebhookURL()+"?wait=true", okBody)
	if r.status != 200 || json.Valid([]byte(r.body)) {
		t.Errorf("invalid JSON: %d %q", r.status, r.body)
	}
	if got := s.Requests(); len(got) != 4 || got[0].Status != 0 || got[1].Status != 0 {
		t.Errorf("recorded %d requests", len(got))
	}
}

func TestServer_CloseReleasesHang(t *testing.T) {
	arrived := make(chan struct{})
	s, _ := start(t, Options{OnRequest: func(Request) { close(arrived) }})
	s.Script(Hang())
	errc := make(chan error, 1)
	go func() {
		_, err := post(t, context.Background(), s.WebhookURL(), okBody)
		errc <- err
	}()
	<-arrived
	s.Close() // must not wait for the hanging request
	if err := <-errc; err == nil {
		t.Error("hanging request got an answer")
	}
}

func TestServer_Concurrent(t *testing.T) {
	s, _ := start(t, Options{BucketLimit: 1000})
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			r, err := post(t, t.Context(), s.WebhookURL()+"?wait=true", okBody)
			if err != nil || r.status != 200 {
				t.Errorf("status %d err %v", r.status, err)
			}
		})
	}
	wg.Wait()
	ids := map[string]bool{}
	for _, r := range s.Requests() {
		ids[fmt.Sprint(r.Seq)] = true
	}
	if len(ids) != 20 || s.Statuses()[200] != 20 {
		t.Errorf("requests=%d statuses=%v", len(ids), s.Statuses())
	}
}
