package app

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"

	"kickwatch/pipeline/discord/discordfake"
	"kickwatch/pipeline/kick/kickfake"
)

// tinyPostgREST answers a zero-row select and inserts the way PostgREST does.
type tinyPostgREST struct {
	mu    sync.Mutex
	posts int
	gets  int
	key   string
}

func (p *tinyPostgREST) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	if r.Header.Get("apikey") != p.key {
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"code":"PGRST301","details":null,"hint":null,"message":"No suitable key or wrong key type"}`)
		return
	}
	switch r.Method {
	case http.MethodGet:
		p.gets++
		w.Header().Set("Content-Range", "*/*")
		fmt.Fprint(w, "[]")
	case http.MethodPost:
		p.posts++
		w.WriteHeader(http.StatusCreated)
	}
}

func TestCheckProbeAndNotifyTest(t *testing.T) {
	const secretKey = "sb_secret_probe_0123456789abcdef"
	dc := discordfake.New(discordfake.Options{})
	t.Cleanup(dc.Close)
	pg := &tinyPostgREST{key: secretKey}
	pgSrv := httptest.NewServer(pg)
	t.Cleanup(pgSrv.Close)
	kf := kickfake.New(kickfake.Options{})
	kf.AddChannel(kickfake.APIChannel{Slug: "somechannel", ChannelID: 41, ChatroomID: 42})
	kSrv := httptest.NewServer(kf.Handler())
	t.Cleanup(kSrv.Close)

	path, _ := writeConfig(t, fmt.Sprintf(`
[kick]
username = "me"
demo = false
api_url = %q
[[kick.channels]]
slug = "somechannel"
[[kick.channels]]
slug = "fixed"
chatroom_id = 7
[remote_db]
url = %q
[console]
enabled = true
[http]
listen = ""
`, kf.APIURL(kSrv.URL), pgSrv.URL+"/rest/v1"), "")

	c := newCLI(t)
	c.env["KICKWATCH_DISCORD_WEBHOOK_URL"] = dc.WebhookURL()
	c.env["KICKWATCH_REMOTE_DB_API_KEY"] = secretKey
	if code := c.run(t.Context(), "check", "-config", path, "-probe"); code != ExitOK {
		t.Fatalf("check -probe: code %d\nstdout:\n%s\nstderr:\n%s", code, c.stdout.String(), c.stderr.String())
	}
	out := c.stdout.String()
	for _, want := range []string{"probe discord", "webhook \"kickwatch\"", "probe remote_db", "table kick_notifications is readable",
		"probe kick channel somechannel", "chatroom id 42, channel id 41", "probe kick channel fixed"} {
		if !strings.Contains(out, want) {
			t.Errorf("check -probe output lacks %q:\n%s", want, out)
		}
	}
	if pg.posts != 0 || len(dc.Requests()) != 1 || dc.Requests()[0].Method != http.MethodGet {
		t.Errorf("probe wrote something: %d database posts, discord requests %+v", pg.posts, dc.Requests())
	}

	c = newCLI(t)
	c.env["KICKWATCH_DISCORD_WEBHOOK_URL"] = dc.WebhookURL()
	c.env["KICKWATCH_REMOTE_DB_API_KEY"] = secretKey
	if code := c.run(t.Context(), "notify-test", "-config", path); code != ExitOK {
		t.Fatalf("notify-test: code %d\nstdout:\n%s\nstderr:\n%s", code, c.stdout.String(), c.stderr.String())
	}
	out = c.stdout.String()
	for _, want := range []string{"notify-test console", "notify-test discord    delivered (remote id", "notify-test remote_db  delivered",
		"this is a test notification"} {
		if !strings.Contains(out, want) {
			t.Errorf("notify-test output lacks %q:\n%s", want, out)
		}
	}
	if pg.posts != 1 {
		t.Errorf("database posts = %d, want 1", pg.posts)
	}

	// Failing peers: a deleted webhook, a wrong key, an unknown channel.
	dc.DeleteWebhook()
	c = newCLI(t)
	c.env["KICKWATCH_DISCORD_WEBHOOK_URL"] = dc.WebhookURL()
	c.env["KICKWATCH_REMOTE_DB_API_KEY"] = secretKey + "-wrong"
	path2, _ := writeConfig(t, strings.Replace(readFile(t, path), `slug = "somechannel"`, `slug = "nosuchchannel"`, 1), "")
	if code := c.run(t.Context(), "check", "-config", path2, "-probe"); code != ExitRuntime {
		t.Fatalf("check -probe with failing peers: code %d, want %d\n%s", code, ExitRuntime, c.stdout.String())
	}
	out = c.stdout.String() + c.stderr.String()
	for _, want := range []string{"discord                FAIL", "create a new webhook", "remote_db              FAIL",
		"kick channel nosuchchannel FAIL"} {
		if !strings.Contains(out, want) {
			t.Errorf("failing probe output lacks %q:\n%s", want, out)
		}
	}
	for _, secret := range []string{secretKey, discordfake.DefaultToken} {
		if strings.Contains(out, secret) {
			t.Errorf("output leaks a secret %q", secret)
		}
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// writeConfig appends its own [store] table: drop the old one.
	s := string(b)
	if i := strings.Index(s, "\n[store]"); i >= 0 {
		s = s[:i]
	}
	return s
}
