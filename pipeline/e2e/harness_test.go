package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"kickwatch/pipeline/config"
	"kickwatch/pipeline/discord/discordfake"
)

// The rendered settings must load as a valid kickwatch config: loopback
// ws:// and http:// peers accepted, every key known.
func TestSettings_RenderAValidConfig(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.toml")
	s := Settings{
		Channels:      []Channel{{"chan-a", 1}, {"chan_b", 2}},
		KickURL:       "ws://127.0.0.1:1234/app/32cbd69e4b950bf97679?protocol=7&client=js&version=8.4.0&flash=false",
		DiscordURL:    "http://127.0.0.1:1235/api/webhooks/1234567890123456789/tok-EN_1",
		RemoteDBURL:   "http://127.0.0.1:1236",
		RemoteDBKey:   "key",
		RemoteDBTable: "e2e_x",
		StorePath:     filepath.Join(dir, "kw.db"),
		CapPerChannel: 20,
		HTTPUser:      "ops",
		HTTPPassword:  "pw",
	}
	if err := WriteConfig(path, s); err != nil {
		t.Fatal(err)
	}
	cfg, _, err := config.Load(config.Options{Path: path, Getenv: func(string) string { return "" }})
	if err != nil {
		t.Fatalf("rendered config does not load: %v", err)
	}
	if cfg.Kick.Demo || cfg.Kick.Transport != config.TransportPusher || cfg.Kick.WSURL != s.KickURL {
		t.Errorf("kick: demo=%t transport=%s ws_url=%s", cfg.Kick.Demo, cfg.Kick.Transport, cfg.Kick.WSURL)
	}
	if got := len(cfg.Kick.Channels); got != 2 || cfg.Kick.Channels[1].ChatroomID != 2 {
		t.Errorf("channels: %+v", cfg.Kick.Channels)
	}
	if cfg.Store.OutboxCapPerChannel != 20 || cfg.Store.OutboxCapTotal < 20 {
		t.Errorf("caps: %d, %d", cfg.Store.OutboxCapPerChannel, cfg.Store.OutboxCapTotal)
	}
	if cfg.Log.Format != config.FormatJSON || cfg.HTTP.Listen != "127.0.0.1:0" {
		t.Errorf("log.format=%s http.listen=%s", cfg.Log.Format, cfg.HTTP.Listen)
	}
	if cfg.Delivery.RetryInitial.Duration != 100*time.Millisecond || cfg.Discord.FailureThreshold != 3 {
		t.Errorf("delivery/breaker defaults: %v, %d", cfg.Delivery.RetryInitial, cfg.Discord.FailureThreshold)
	}
}

func TestTokens_PostsAndDuplicates(t *testing.T) {
	toks := NewTokens()
	post := func(seq, status int, tokens ...int) discordfake.Request {
		p := &discordfake.Payload{}
		for _, i := range tokens {
			p.Embeds = append(p.Embeds, discordfake.Embed{Fields: []discordfake.Field{
				{Name: "Message", Value: "hey @e2e\\_watcher " + toks.Token(i)}, {Name: "User", Value: "x"}}})
		}
		return discordfake.Request{Seq: seq, Status: status, Payload: p}
	}
	reqs := []discordfake.Request{
		post(1, 200, 0, 1), post(2, 429, 2), post(3, 204, 2, 3), post(4, 200, 1, 4), post(5, 200, 1234567),
	}
	d := Deliveries(toks.Posts(reqs))
	want := map[string]int{toks.Token(0): 1, toks.Token(1): 2, toks.Token(2): 1, toks.Token(3): 1, toks.Token(4): 1, toks.Token(1234567): 1}
	if fmt.Sprint(d.Count) != fmt.Sprint(want) {
		t.Errorf("counts %v, want %v", d.Count, want)
	}
	if d.DuplicatePosts != 1 || d.ExtraCopies != 1 {
		t.Errorf("duplicate posts %d, extra copies %d; want 1, 1", d.DuplicatePosts, d.ExtraCopies)
	}
	if got := NewTokens().Find(toks.Token(3)); len(got) != 0 {
		t.Errorf("another run's tokens found %v", got)
	}
}

func TestLogBuffer_WaitsForLines(t *testing.T) {
	b := NewLogBuffer(nil)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	got := make(chan LogLine, 1)
	go func() {
		l, err := b.Wait(ctx, func(l LogLine) bool { return l.Msg() == "http listener up" })
		if err != nil {
			t.Error(err)
		}
		got <- l
	}()
	line, _ := json.Marshal(map[string]any{"level": "INFO", "msg": "http listener up", "addr": "127.0.0.1:9"})
	b.Write([]byte("not json\n{\"msg\":\"other\"}\n" + string(line[:10])))
	b.Write(append(line[10:], '\n'))
	l := <-got
	if l.Str("addr") != "127.0.0.1:9" || l.Level() != "INFO" {
		t.Errorf("line %+v", l)
	}
	if n := b.Count(func(l LogLine) bool { return l.Fields == nil }); n != 1 {
		t.Errorf("non-JSON lines %d, want 1", n)
	}
	b.Write([]byte("last words"))
	b.finish()
	if _, err := b.Wait(ctx, func(l LogLine) bool { return l.Msg() == "never" }); err == nil {
		t.Error("Wait after the end found a line that was never written")
	}
	if !strings.HasSuffix(b.String(), "last words\n") {
		t.Errorf("unterminated last line lost: %q", b.String())
	}
}

func TestSecrets_LeakDetector(t *testing.T) {
	sec := newSecrets()
	leaky := []string{
		"url=http://x/api/webhooks/1/" + sec.token,
		"key=" + sec.apiKey[:len(sec.apiKey)-3],   // cut, still marked
		"token …" + sec.token[len(leakMarker)+2:], // marker cut off
		"Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte("ops:"+sec.password)),
		"client_secret = " + strings.ToLower(sec.clientSecret),
	}
	for _, text := range leaky {
		if len(sec.leaks(text)) == 0 {
			t.Errorf("leak not found in %q", text)
		}
	}
	if found := sec.leaks("webhook_url = \"https://discord.com/[redacted]\", api_key = '[redacted]'"); len(found) > 0 {
		t.Errorf("redacted text reported as leaking %q", found)
	}
}
