package e2e

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"kickwatch/pipeline/discord/discordfake"
)

// leakMarker starts every secret in this test; it appears nowhere else, so
// any output holding it (even a cut secret) leaks.
const leakMarker = "KWLEAK"

// secrets are distinctive values for every kind of secret kickwatch holds;
// cores are their random parts.
type secrets struct {
	token, apiKey, password, clientSecret string
	cores                                 []string
}

func newSecrets() secrets {
	c := []string{RandomHex(12), RandomHex(12), RandomHex(8), RandomHex(8)}
	return secrets{
		token:        leakMarker + "tok" + c[0],
		apiKey:       "sb_secret_" + leakMarker + "key" + c[1],
		password:     leakMarker + "pw" + c[2],
		clientSecret: leakMarker + "cs" + c[3],
		cores:        c,
	}
}

// leaks lists the secrets, or pieces of them, found in text: the marker,
// either half of a random part (a cut secret still leaks), the basic auth
// header value.
func (s secrets) leaks(text string) []string {
	pieces := []string{leakMarker, strings.ToLower(leakMarker), base64.StdEncoding.EncodeToString([]byte("ops:" + s.password))}
	for _, c := range s.cores {
		pieces = append(pieces, c[:len(c)/2], c[len(c)/2:])
	}
	var found []string
	for _, v := range pieces {
		if strings.Contains(text, v) {
			found = append(found, v)
		}
	}
	return found
}

// outputs collects every text the daemon and its CLI produced.
type outputs struct {
	t     *testing.T
	texts map[string]string
}

func (o *outputs) add(name, text string) {
	if o.texts == nil {
		o.texts = map[string]string{}
	}
	o.texts[name] += text
}

// cli runs a kickwatch command and keeps its output.
func (o *outputs) cli(ctx context.Context, d Daemon, args ...string) CLIResult {
	o.t.Helper()
	res, err := d.RunCLI(ctx, args...)
	if err != nil {
		o.t.Fatal(err)
	}
	o.add("kickwatch "+strings.Join(args, " "), res.Stdout+res.Stderr)
	return res
}

// fetch GETs path from the daemon (with basic auth when user is set) and
// keeps the body.
func (o *outputs) fetch(ctx context.Context, p *Process, path, user, pass string) int {
	o.t.Helper()
	addr, err := p.HTTPAddr(ctx)
	if err != nil {
		o.t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		o.t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		o.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	o.add(fmt.Sprintf("GET %s (auth=%t)", path, user != ""), fmt.Sprintf("%d %v\n%s", resp.StatusCode, resp.Header, b))
	return resp.StatusCode
}

// TestSecrets_NeverInOutput runs the daemon with distinctive secrets through
// failing sinks (Discord 5xx, 401, 404; PostgREST 401 for a bad key) and
// broken configs, and checks that no log line, CLI output, /metrics, status
// page, /readyz or `kickwatch check` output holds any of them.
func TestSecrets_NeverInOutput(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	sec := newSecrets()
	df := discordfake.New(discordfake.Options{})
	// Three server errors, then normal handling, which refuses the token.
	df.Script(discordfake.Status(500), discordfake.Status(502), discordfake.Status(503))
	ch := Channel{Slug: "e2e-secrets", ChatroomID: 7301}
	r := newRig(t, df, []Channel{ch})
	r.settings.DiscordURL = df.URL() + "/api/webhooks/" + discordfake.DefaultWebhookID + "/" + sec.token
	r.settings.RemoteDBKey = sec.apiKey
	r.settings.HTTPUser = "ops"
	r.settings.LogLevel = "debug"
	r.daemon.Env = []string{"KICKWATCH_HTTP_PASSWORD=" + sec.password, "KICKWATCH_KICK_CLIENT_SECRET=" + sec.clientSecret}
	out := &outputs{t: t}
	toks := NewTokens()

	misconfigured := func(sink string) func(LogLine) bool {
		return func(l LogLine) bool { return strings.HasPrefix(l.Msg(), "sink misconfigured") && l.Str("sink") == sink }
	}
	// Run 1: key and token in the config file; Discord 5xx then 401.
	p := r.start(ctx)
	for i := range 3 {
		mention(r.kick, ch, "", toks.Token(i))
	}
	for _, sink := range []string{"remote_db", "discord"} {
		if _, err := p.WaitLog(ctx, misconfigured(sink)); err != nil {
			t.Fatalf("%s never reported misconfigured: %v\n%s", sink, err, tail(p, 40))
		}
	}
	statuses := df.Statuses()
	for _, code := range []int{500, 502, 503, 401} {
		if statuses[code] == 0 {
			t.Errorf("Discord never answered %d (statuses %v): the test did not exercise it", code, statuses)
		}
	}
	for _, path := range []string{"/", "/metrics", "/readyz", "/healthz"} {
		out.fetch(ctx, p, path, "", "")
		if code := out.fetch(ctx, p, path, "ops", sec.password); path != "/readyz" && code != 200 && code != 404 {
			t.Errorf("GET %s with auth: %d", path, code)
		}
	}
	out.fetch(ctx, p, "/", "ops", "wrong-password")
	for _, args := range [][]string{
		{"outbox", "stats", "-config", r.daemon.Config},
		{"outbox", "ls", "-json", "-config", r.daemon.Config},
		{"outbox", "ls", "-config", r.daemon.Config},
		{"history", "-config", r.daemon.Config},
		{"check", "-config", r.daemon.Config},
		{"check", "-probe", "-config", r.daemon.Config},
	} {
		out.cli(ctx, r.daemon, args...)
	}
	if code, err := p.Stop(ctx); err != nil || code != 0 {
		t.Errorf("stop run 1: exit %d, %v", code, err)
	}
	out.add("run 1 stderr", p.Logs.String())
	out.add("run 1 stdout", p.Stdout.String())

	// Run 2: the secrets from the environment; Discord 404 (deleted webhook).
	df.DeleteWebhook()
	r.settings.DiscordURL, r.settings.RemoteDBKey = "", ""
	r.daemon.Env = append(r.daemon.Env,
		"KICKWATCH_DISCORD_WEBHOOK_URL="+df.URL()+"/api/webhooks/"+discordfake.DefaultWebhookID+"/"+sec.token,
		"KICKWATCH_REMOTE_DB_API_KEY="+sec.apiKey)
	p = r.start(ctx)
	mention(r.kick, ch, "", toks.Token(3))
	for _, sink := range []string{"remote_db", "discord"} {
		if _, err := p.WaitLog(ctx, misconfigured(sink)); err != nil {
			t.Fatalf("%s never reported misconfigured in run 2: %v\n%s", sink, err, tail(p, 40))
		}
	}
	if df.Statuses()[404] == 0 {
		t.Errorf("Discord never answered 404: the test did not exercise it")
	}
	for _, path := range []string{"/", "/metrics", "/readyz"} {
		out.fetch(ctx, p, path, "ops", sec.password)
	}
	out.cli(ctx, r.daemon, "outbox", "ls", "-json", "-config", r.daemon.Config)
	out.cli(ctx, r.daemon, "check", "-config", r.daemon.Config)
	if code, err := p.Stop(ctx); err != nil || code != 0 {
		t.Errorf("stop run 2: exit %d, %v", code, err)
	}
	out.add("run 2 stderr", p.Logs.String())
	out.add("run 2 stdout", p.Stdout.String())

	// Broken configs: `kickwatch check` must name the problem, not the secret.
	for i, raw := range brokenConfigs(sec, filepath.Join(r.dir, "broken.db")) {
		d := r.daemon
		d.Env = nil
		d.Config = filepath.Join(r.dir, fmt.Sprintf("broken%d.toml", i))
		if err := WriteConfig(d.Config, Settings{Raw: raw}); err != nil {
			t.Fatal(err)
		}
		res := out.cli(ctx, d, "check", "-config", d.Config)
		if res.ExitCode != 2 {
			t.Errorf("check on broken config %d: exit %d, want 2\n%s", i, res.ExitCode, res.Stderr)
		}
		if strings.TrimSpace(res.Stderr) == "" {
			t.Errorf("check on broken config %d printed no error", i)
		}
	}

	scanned := 0
	for name, text := range out.texts {
		scanned += len(text)
		if found := sec.leaks(text); len(found) > 0 {
			t.Errorf("%s leaks %q:\n%s", name, found, excerpt(text, found[0]))
		}
	}
	t.Logf("scanned %d outputs (%d bytes) for 4 secrets", len(out.texts), scanned)
}

// brokenConfigs are configs that fail to load, each with secrets next to or
// inside the broken value.
func brokenConfigs(sec secrets, dbPath string) []string {
	hook := "https://discord.com/api/webhooks/123456789012345678/" + sec.token
	return []string{
		// Bad values whose messages quote the URL.
		fmt.Sprintf("[discord]\nwebhook_url = %q\n[remote_db]\nurl = %q\napi_key = %q\n[store]\npath = %q\n",
			"ftp://discord.com/api/webhooks/123456789012345678/"+sec.token,
			"https://user:"+sec.password+"@example.supabase.co/rest/v1?apikey="+sec.apiKey, sec.apiKey, dbPath),
		// A syntax error on the secret's line.
		fmt.Sprintf("[discord]\nwebhook_url = \"%s\n[store]\npath = %q\n", hook, dbPath),
		// A type error: the secret where a string is expected.
		fmt.Sprintf("[remote_db]\nurl = \"https://example.supabase.co/rest/v1\"\napi_key = [%q]\n[store]\npath = %q\n", sec.apiKey, dbPath),
		// An unknown key holding a secret.
		fmt.Sprintf("[discord]\nwebhook_ulr = %q\n[store]\npath = %q\n", hook, dbPath),
		// A password without its user.
		fmt.Sprintf("[http]\nbasic_auth_password = %q\n[kick.webhook]\nclient_secret = %q\nmax_skew = \"-1s\"\n[store]\npath = %q\n",
			sec.password, sec.clientSecret, dbPath),
	}
}

// excerpt shows text around the first s.
func excerpt(text, s string) string {
	i := strings.Index(text, s)
	lo, hi := max(i-200, 0), min(i+len(s)+200, len(text))
	return "…" + text[lo:hi] + "…"
}
