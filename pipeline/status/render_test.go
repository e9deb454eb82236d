package status

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// Hostile chat text, as a sender could type it.
const (
	scriptText   = `<script>document.title='pwned'</script>`
	imgText      = `"><img src=x onerror="document.title='pwned2'">`
	markdownText = "**bold** [link](javascript:alert(1)) `code` <b>tag</b>"
	rtlText      = "invoice\u202Etxt.exe\u2066hidden\u2069 end"
	nameText     = `evil"><script>document.title='pwned3'</script>`
)

func hostilePage() Page {
	return Page{
		Version: "v1.0.0", Started: t0.Add(-26 * time.Hour), Now: t0,
		LastFrame: t0.Add(-90 * time.Second),
		Warnings:  []string{"http.listen 0.0.0.0:9090 is public and has no basic auth"},
		Sources: []Source{{Name: "pusher", Up: true, Since: t0.Add(-time.Hour), Reconnects: 3},
			{Name: "centrifugo", Up: false, LastError: scriptText}},
		Channels: []Channel{
			{Slug: "xqc", Source: "pusher", State: "subscribed", LastFrame: t0.Add(-90 * time.Second), Frames: 1200, Matched: 4},
			{Slug: "quiet", Source: "pusher", State: "failed", CapDropped: 7},
		},
		Sinks: []Sink{
			{Name: "discord", Ready: true, Breaker: "open", BreakerReadyAt: t0.Add(30 * time.Second), Pending: 12, Dead: 2,
				LastError: "discord 503: " + imgText, LastErrorAt: t0.Add(-time.Minute)},
			{Name: "remote_db", Ready: false, Paused: "misconfigured", Breaker: "closed", Pending: 5},
		},
		Breakers: []Breaker{{Name: "discord", State: "open", Failures: 5, Since: t0.Add(-time.Minute)}},
		Mentions: []Mention{
			{Time: t0.Add(-time.Minute), Channel: "xqc", Kind: "mention", Sender: "alice", Text: scriptText},
			{Time: t0.Add(-2 * time.Minute), Channel: "xqc", Kind: "reply", Sender: nameText, Text: imgText},
			{Time: t0.Add(-3 * time.Minute), Channel: "xqc", Kind: "keyword", Sender: "bob", Text: markdownText},
			{Time: t0.Add(-4 * time.Minute), Channel: "xqc", Kind: "mention", Sender: "carol\u202E", Text: rtlText},
		},
		BufferDropped: 1,
	}
}

func render(t *testing.T, p Page) string {
	t.Helper()
	var b strings.Builder
	if err := Render(&b, p); err != nil {
		t.Fatalf("Render: %v", err)
	}
	return b.String()
}

func TestRender_EscapesHostileText(t *testing.T) {
	out := render(t, hostilePage())
	for _, bad := range []string{
		"<script", "<img", "<b>tag", "<a ", "javascript:alert(1)\"", // live markup
		"\u202E", "\u2066", "\u2069", // bidi controls
	} {
		if strings.Contains(out, bad) {
			t.Errorf("page contains %q", bad)
		}
	}
	for _, want := range []string{
		"&lt;script&gt;document.title=&#39;pwned&#39;&lt;/script&gt;",
		"&#34;&gt;&lt;img src=x onerror=&#34;document.title=&#39;pwned2&#39;&#34;&gt;",
		"**bold** [link](javascript:alert(1)) `code` &lt;b&gt;tag&lt;/b&gt;", // markdown stays literal
		"invoice\uFFFDtxt.exe\uFFFDhidden\uFFFD end",                         // overrides made visible
		"evil&#34;&gt;&lt;script&gt;",
		`<meta http-equiv="refresh" content="10">`,
		"<title>kickwatch status</title>",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("page lacks %q", want)
		}
	}
}

func TestRender_ShowsState(t *testing.T) {
	out := render(t, hostilePage())
	for _, want := range []string{
		"version <b>v1.0.0</b>",
		"up 1d02h",
		`<tr data-source="centrifugo"><td>centrifugo</td><td class="bad">disconnected</td>`,
		`<tr data-channel="xqc"><td>xqc</td><td>pusher</td><td class="ok">subscribed</td><td>2026-11-25 11:58:30Z (1m30s ago)</td>`,
		`<td class="bad">failed</td>`,
		`<td class="bad">open (probe in 30s)</td>`,
		`<td class="n">12</td>`,
		`<td class="n bad">2</td>`,
		`misconfigured`,
		`<tr data-breaker="discord"><td>discord</td><td class="bad">open</td><td class="n">5</td>`,
		`id="buffer-dropped">1</span>`,
		"public and has no basic auth",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(out, "silence-alarm") {
		t.Errorf("silence alarm shown while not raised")
	}
	p := hostilePage()
	p.SilenceAlarm, p.SilenceAfter = true, 6*time.Hour
	p.LastFrame = t0.Add(-7 * time.Hour)
	if out := render(t, p); !strings.Contains(out, `id="silence-alarm">Silence alarm: connected, but no chat frame for 7h00m ago (alarm after 6h00m)`) {
		t.Errorf("silence alarm missing or wrong:\n%s", out)
	}
}

func TestRender_Limits(t *testing.T) {
	p := Page{Now: t0}
	for range MaxMentions + 20 {
		p.Mentions = append(p.Mentions, Mention{Time: t0, Sender: strings.Repeat("s", 500), Text: strings.Repeat("é", 5000)})
	}
	out := render(t, p)
	if got := strings.Count(out, `<tr class="mention">`); got != MaxMentions {
		t.Errorf("mention rows=%d, want %d", got, MaxMentions)
	}
	if got := strings.Count(out, strings.Repeat("é", MaxTextRunes)+"…"); got != MaxMentions {
		t.Errorf("texts cut at %d runes=%d, want %d", MaxTextRunes, got, MaxMentions)
	}
	if strings.Contains(out, strings.Repeat("é", MaxTextRunes+1)) {
		t.Errorf("a text longer than %d runes was shown", MaxTextRunes)
	}
	if strings.Contains(out, strings.Repeat("s", maxNameRunes+1)) {
		t.Errorf("a sender longer than %d runes was shown", maxNameRunes)
	}
}

func TestCut(t *testing.T) {
	for _, tt := range []struct {
		in   string
		n    int
		want string
	}{
		{"hello", 10, "hello"},
		{"hello", 3, "hel…"},
		{"a\nb\tc\rd", 10, "a b c d"},
		{"nul\x00bell\x07", 20, "nul\uFFFDbell\uFFFD"},
		{"bad\xffutf8", 20, "bad\uFFFDutf8"},
		{"\u200Fmark\u061C\u202Aembed\u202C", 20, "\uFFFDmark\uFFFD\uFFFDembed\uFFFD"},
		{"مرحبا", 10, "مرحبا"}, // right-to-left text itself is fine
		{"👍🏽 ok", 10, "👍🏽 ok"},
	} {
		got := cut(tt.in, tt.n)
		if got != tt.want {
			t.Errorf("cut(%q, %d)=%q, want %q", tt.in, tt.n, got, tt.want)
		}
		if !utf8.ValidString(got) {
			t.Errorf("cut(%q) is not valid UTF-8", tt.in)
		}
	}
}

func TestFormatDuration(t *testing.T) {
	for _, tt := range []struct {
		d    time.Duration
		want string
	}{
		{0, "0s"}, {1500 * time.Millisecond, "1s"}, {90 * time.Second, "1m30s"},
		{2*time.Hour + 5*time.Minute, "2h05m"}, {50 * time.Hour, "2d02h"},
	} {
		if got := formatDuration(tt.d); got != tt.want {
			t.Errorf("formatDuration(%v)=%q, want %q", tt.d, got, tt.want)
		}
	}
}

func get(t *testing.T, h http.Handler, method string) (*http.Response, string) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	req, err := http.NewRequestWithContext(t.Context(), method, srv.URL+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s /: %v", method, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

func TestHandler(t *testing.T) {
	var gotCtx context.Context
	h := Handler(func(ctx context.Context) (Page, error) {
		gotCtx = ctx
		return hostilePage(), nil
	}, nil)
	resp, body := get(t, h, http.MethodGet)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status=%d, want 200", resp.StatusCode)
	}
	for k, want := range map[string]string{
		"Content-Type":           "text/html; charset=utf-8",
		"Cache-Control":          "no-store",
		"X-Content-Type-Options": "nosniff",
	} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("%s=%q, want %q", k, got, want)
		}
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("Content-Security-Policy=%q, want default-src 'none'", csp)
	}
	if !strings.Contains(body, "&lt;script&gt;") {
		t.Errorf("body lacks the escaped mention")
	}
	if _, ok := gotCtx.Deadline(); !ok {
		t.Errorf("load ran without a deadline")
	}

	if resp, _ := get(t, h, http.MethodPost); resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST: status=%d Allow=%q, want 405 and GET, HEAD", resp.StatusCode, resp.Header.Get("Allow"))
	}
	if resp, body := get(t, h, http.MethodHead); resp.StatusCode != http.StatusOK || body != "" {
		t.Errorf("HEAD: status=%d body=%d bytes, want 200 and none", resp.StatusCode, len(body))
	}
}

func TestHandler_LoadErrorHidden(t *testing.T) {
	h := Handler(func(context.Context) (Page, error) {
		return Page{}, errors.New("open https://secret.example/key=abc: boom")
	}, nil)
	resp, body := get(t, h, http.MethodGet)
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("status=%d, want 503", resp.StatusCode)
	}
	if strings.Contains(body, "secret") || strings.Contains(body, "boom") {
		t.Errorf("body shows the load error: %q", body)
	}
}
