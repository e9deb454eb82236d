package app

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"kickwatch/pipeline"
	"kickwatch/store"
)

// repoFile reads a file from the repository root.
func repoFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// cli runs the command line with args and an environment of env (nil: empty).
type cli struct {
	t      *testing.T
	env    map[string]string
	stdout syncBuffer
	stderr syncBuffer
}

func newCLI(t *testing.T) *cli { return &cli{t: t, env: map[string]string{}} }

func (c *cli) Env() Env {
	return Env{
		Stdout:        &c.stdout,
		Stderr:        &c.stderr,
		Getenv:        func(k string) string { return c.env[k] },
		Version:       "v-test",
		DefaultConfig: repoFile(c.t, "config.toml"),
		DemoChat:      repoFile(c.t, "testdata/demo/chat.jsonl"),
		DemoPace:      time.Millisecond,
	}
}

func (c *cli) run(ctx context.Context, args ...string) int {
	c.t.Helper()
	return Main(ctx, args, c.Env())
}

// writeConfig writes a config whose store lives in t's temp dir; extra is
// appended TOML (keys not already in the base).
func writeConfig(t *testing.T, base, extra string) (path, db string) {
	t.Helper()
	dir := t.TempDir()
	db = filepath.Join(dir, "kickwatch.db")
	text := base + fmt.Sprintf("\n[store]\npath = %q\n", db) + extra
	path = filepath.Join(dir, "config.toml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, db
}

const demoBase = `
[kick]
username = "kickwatch_demo"
demo = true

[http]
listen = ""

[log]
format = "json"
`

func TestMain_VersionAndUsage(t *testing.T) {
	c := newCLI(t)
	if code := c.run(t.Context(), "version"); code != ExitOK || strings.TrimSpace(c.stdout.String()) != "kickwatch v-test" {
		t.Fatalf("version: code %d, stdout %q", code, c.stdout.String())
	}
	c = newCLI(t)
	if code := c.run(t.Context(), "frobnicate"); code != ExitUsage || !strings.Contains(c.stderr.String(), `unknown verb "frobnicate"`) {
		t.Fatalf("unknown verb: code %d, stderr %q", code, c.stderr.String())
	}
	for _, arg := range []string{"--help", "-h", "help"} {
		c = newCLI(t)
		if code := c.run(t.Context(), arg); code != ExitOK || !strings.Contains(c.stdout.String(), "kickwatch notify-test") {
			t.Errorf("%s: code %d, stdout %q", arg, code, c.stdout.String())
		}
	}
	for _, verb := range []string{"run", "check", "history", "replay", "notify-test", "outbox stats"} {
		c = newCLI(t)
		if code := c.run(t.Context(), append(strings.Fields(verb), "-help")...); code != ExitOK || !strings.Contains(c.stderr.String(), "Usage: kickwatch "+strings.Fields(verb)[0]) {
			t.Errorf("%s -help: code %d, stderr %q", verb, code, c.stderr.String())
		}
	}
	c = newCLI(t)
	if code := c.run(t.Context(), "check", "-bogus"); code != ExitUsage {
		t.Errorf("check -bogus: code %d, want %d", code, ExitUsage)
	}
}

func TestCheck_ReportsEveryConfigError(t *testing.T) {
	tests := []struct {
		name string
		toml string
		want []string
	}{
		{"broken toml", "[kick\nusername = 1\n", []string{"config.toml:1:6"}},
		{"unknown key", "[kick]\nusername = \"me\"\nchanels = []\n", []string{"chanels"}},
		{"wrong type", "[kick]\nusername = 5\n", []string{"username"}},
		{"many errors at once", "[store]\noutbox_cap_per_channel = 0\noutbox_cap_total = -5\n[discord]\ntimeout = \"-1s\"\n",
			[]string{"outbox_cap_per_channel", "outbox_cap_total", "timeout"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "config.toml")
			if err := os.WriteFile(path, []byte(tt.toml), 0o600); err != nil {
				t.Fatal(err)
			}
			c := newCLI(t)
			if code := c.run(t.Context(), "check", "-config", path); code != ExitUsage {
				t.Fatalf("code %d, want %d; stderr:\n%s", code, ExitUsage, c.stderr.String())
			}
			for _, w := range tt.want {
				if !strings.Contains(c.stderr.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, c.stderr.String())
				}
			}
		})
	}
}

func TestCheck_ValidConfigRedactsSecrets(t *testing.T) {
	const token = "SeCrEtToKeN-check-0123456789abcdef"
	const key = "sb_secret_check_abcdef0123456789"
	path, db := writeConfig(t, demoBase, `
[remote_db]
url = "http://127.0.0.1:1/rest/v1"
`)
	c := newCLI(t)
	c.env["KICKWATCH_DISCORD_WEBHOOK_URL"] = "https://discord.com/api/webhooks/123456789012345678/" + token
	c.env["KICKWATCH_REMOTE_DB_API_KEY"] = key
	if code := c.run(t.Context(), "check", "-config", path); code != ExitOK {
		t.Fatalf("code %d; stderr:\n%s", code, c.stderr.String())
	}
	out := c.stdout.String() + c.stderr.String()
	for _, secret := range []string{token, key} {
		if strings.Contains(out, secret) {
			t.Errorf("check printed a secret %q:\n%s", secret, out)
		}
	}
	for _, want := range []string{"is valid", db, "discord", "remote_db"} {
		if !strings.Contains(c.stdout.String(), want) {
			t.Errorf("stdout lacks %q:\n%s", want, c.stdout.String())
		}
	}
}

func TestCheck_BadStorePaths(t *testing.T) {
	dir := t.TempDir()
	notDB := filepath.Join(dir, "not.db")
	if err := os.WriteFile(notDB, bytes.Repeat([]byte("this is not sqlite "), 300), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path, want string
	}{
		{"missing directory", filepath.Join(dir, "nope", "k.db"), "nope"},
		{"not a database", notDB, "not"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := filepath.Join(t.TempDir(), "config.toml")
			text := demoBase + fmt.Sprintf("\n[store]\npath = %q\n", tt.path)
			if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
				t.Fatal(err)
			}
			c := newCLI(t)
			code := c.run(t.Context(), "check", "-config", cfg)
			if code == ExitOK {
				t.Fatalf("check passed on a bad store path; stdout:\n%s", c.stdout.String())
			}
			if !strings.Contains(c.stderr.String(), tt.want) {
				t.Errorf("stderr lacks %q:\n%s", tt.want, c.stderr.String())
			}
		})
	}
	if b, err := os.ReadFile(notDB); err != nil || !bytes.HasPrefix(b, []byte("this is not sqlite")) {
		t.Errorf("check changed a file that is not a database")
	}
}

// seed enqueues mentions into the store at db with the sinks enabled.
func seed(t *testing.T, db string, sinks []string, ms ...pipeline.Mention) {
	t.Helper()
	st, err := store.Open(t.Context(), db, store.Options{Sinks: sinks})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var items []store.Item
	for i := range ms {
		p, err := pipeline.EncodeMention(&ms[i])
		if err != nil {
			t.Fatal(err)
		}
		items = append(items, store.Item{Key: ms[i].MessageID, Channel: ms[i].Channel, Payload: p})
	}
	if _, err := st.EnqueueBatch(t.Context(), items); err != nil {
		t.Fatal(err)
	}
}

func mention(id, channel, sender, text string) pipeline.Mention {
	return pipeline.Mention{MessageID: id, Channel: channel, Sender: sender, Content: text,
		Kind: pipeline.KindMention, CreatedAt: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)}
}

func TestOutboxVerbs(t *testing.T) {
	path, db := writeConfig(t, demoBase, "")
	seed(t, db, []string{"console"},
		mention("m1", "alpha", "ann", "hi @kickwatch_demo"),
		mention("m2", "beta", "bob", "yo @kickwatch_demo"))
	// Dead-letter m1 so retry and purge have something to do.
	st, err := store.Open(t.Context(), db, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rows, err := st.Claim(t.Context(), "console", 10, time.Minute)
	if err != nil || len(rows) != 2 {
		t.Fatalf("claim: %d rows, %v", len(rows), err)
	}
	var ss []store.Settlement
	for _, r := range rows {
		v := store.Retry
		if r.Key == "m1" {
			v = store.Dead
		}
		ss = append(ss, store.Settlement{ID: r.ID, Verdict: v, Error: "boom " + r.Key, RetryAt: time.Now()})
	}
	if err := st.Settle(t.Context(), "console", ss); err != nil {
		t.Fatal(err)
	}
	st.Close()

	c := newCLI(t)
	if code := c.run(t.Context(), "outbox", "stats", "-config", path, "-json"); code != ExitOK {
		t.Fatalf("stats: code %d; stderr %s", code, c.stderr.String())
	}
	if !strings.Contains(c.stdout.String(), "console") {
		t.Errorf("stats lacks the console sink:\n%s", c.stdout.String())
	}

	c = newCLI(t)
	if code := c.run(t.Context(), "outbox", "ls", "-config", path, "-state", "dead"); code != ExitOK {
		t.Fatalf("ls: code %d; stderr %s", code, c.stderr.String())
	}
	if out := c.stdout.String(); !strings.Contains(out, "m1") || strings.Contains(out, "m2") || !strings.Contains(out, "boom m1") {
		t.Errorf("ls -state dead:\n%s", out)
	}

	c = newCLI(t)
	if code := c.run(t.Context(), "outbox", "purge", "-config", path); code != ExitUsage {
		t.Errorf("purge without -yes: code %d, want %d", code, ExitUsage)
	}

	c = newCLI(t)
	if code := c.run(t.Context(), "outbox", "retry", "-config", path); code != ExitOK {
		t.Fatalf("retry: code %d; stderr %s", code, c.stderr.String())
	}
	st, err = store.Open(t.Context(), db, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	dead, err := st.List(t.Context(), store.Filter{Sink: "console", States: []store.State{store.StateDead}})
	st.Close()
	if err != nil || len(dead) != 0 {
		t.Fatalf("after retry: %d dead rows (%v), want 0", len(dead), err)
	}

	c = newCLI(t)
	if code := c.run(t.Context(), "outbox", "frob", "-config", path); code != ExitUsage {
		t.Errorf("outbox frob: code %d, want %d", code, ExitUsage)
	}
}

func TestReplay_StoresMatchesAndDryRunStoresNothing(t *testing.T) {
	path, db := writeConfig(t, demoBase, "")
	frames := filepath.Join("..", "..", "testdata", "demo", "chat.jsonl")

	c := newCLI(t)
	if code := c.run(t.Context(), "replay", "-config", path, "-dry-run", frames); code != ExitOK {
		t.Fatalf("dry run: code %d; stderr %s", code, c.stderr.String())
	}
	if _, err := os.Stat(db); err == nil {
		st, err := store.Open(t.Context(), db, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		n, err := st.Depth(t.Context(), "console")
		st.Close()
		if err != nil || n != 0 {
			t.Fatalf("dry run stored %d rows (%v)", n, err)
		}
	}
	dryOut := c.stdout.String()

	c = newCLI(t)
	if code := c.run(t.Context(), "replay", "-config", path, frames); code != ExitOK {
		t.Fatalf("replay: code %d; stderr %s", code, c.stderr.String())
	}
	st, err := store.Open(t.Context(), db, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	hist, err := st.History(t.Context(), time.Time{}, 1000)
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	want := demoMentions(t)
	if len(hist) != len(want) {
		t.Fatalf("replay stored %d mentions, want %d", len(hist), len(want))
	}
	for _, m := range want {
		if !strings.Contains(dryOut, m.content) {
			t.Errorf("dry run did not list %q:\n%s", m.content, dryOut)
		}
	}
	if n := strings.Count(strings.TrimSpace(dryOut), "\n") + 1; n != len(want) {
		t.Errorf("dry run listed %d lines, want %d:\n%s", n, len(want), dryOut)
	}
	// Replaying again is idempotent.
	c = newCLI(t)
	if code := c.run(t.Context(), "replay", "-config", path, frames); code != ExitOK {
		t.Fatalf("second replay: code %d", code)
	}
	if code := c.run(t.Context(), "replay", "-config", path, filepath.Join(t.TempDir(), "missing.jsonl")); code == ExitOK {
		t.Errorf("replay of a missing file succeeded")
	}
}

// demoMention is "@kickwatch_demo" as a whole name (Kick names are letters,
// digits and underscores).
var demoMention = regexp.MustCompile(`(?i)@kickwatch_demo($|[^a-z0-9_])`)

// demoLine is one demo chat line that must match.
type demoLine struct{ id, content string }

// demoMentions lists the demo chat lines that mention or
// reply to kickwatch_demo, read from the script itself.
func demoMentions(t *testing.T) []demoLine {
	t.Helper()
	var ids []demoLine
	sc := bufio.NewScanner(bytes.NewReader(repoFile(t, "testdata/demo/chat.jsonl")))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var f struct{ Event, Data string }
		if json.Unmarshal(sc.Bytes(), &f) != nil || !strings.HasSuffix(f.Event, "ChatMessageEvent") {
			continue
		}
		var m struct {
			ID      string `json:"id"`
			Content string `json:"content"`
			Sender  struct {
				Username string `json:"username"`
			} `json:"sender"`
			Metadata struct {
				OriginalSender struct {
					Username string `json:"username"`
				} `json:"original_sender"`
			} `json:"metadata"`
		}
		if err := json.Unmarshal([]byte(f.Data), &m); err != nil {
			t.Fatalf("demo line: %v", err)
		}
		if strings.EqualFold(m.Sender.Username, "kickwatch_demo") {
			continue
		}
		if demoMention.MatchString(m.Content) ||
			strings.EqualFold(m.Metadata.OriginalSender.Username, "kickwatch_demo") {
			ids = append(ids, demoLine{m.ID, m.Content})
		}
	}
	if len(ids) == 0 {
		t.Fatal("the demo chat has no mentions")
	}
	return ids
}

// logLine finds the first JSON log line with msg and returns its fields.
func logLine(logs, msg string) (map[string]any, bool) {
	for _, line := range strings.Split(logs, "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == msg {
			return m, true
		}
	}
	return nil, false
}

// waitFor polls cond every 20 ms until it holds or 20 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-tick.C:
		}
	}
}

func TestRun_DemoDeliversEveryMentionToConsole(t *testing.T) {
	path, db := writeConfig(t, strings.Replace(demoBase, `listen = ""`, `listen = "127.0.0.1:0"`, 1), "")
	c := newCLI(t)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan int, 1)
	go func() { done <- c.run(ctx, "run", "-config", path) }()
	defer func() {
		cancel()
		<-done
	}()

	want := demoMentions(t)
	waitFor(t, "the demo to finish", func() bool {
		_, ok := logLine(c.stderr.String(), "demo chat finished; press Ctrl-C to stop (run 'kickwatch history' to list what was caught)")
		return ok
	})
	waitFor(t, "every demo mention on the console", func() bool {
		return strings.Count(c.stdout.String(), "#demo") >= len(want)
	})

	up, ok := logLine(c.stderr.String(), "http listener up")
	if !ok {
		t.Fatalf("no http listener line:\n%s", c.stderr.String())
	}
	base := "http://" + up["addr"].(string)
	for _, ep := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get(base + ep)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: %d, want 200", ep, resp.StatusCode)
		}
	}

	for ep, want := range map[string]string{
		"/metrics": `kickwatch_deliveries_total{result="delivered",sink="console"}`,
		"/":        "can you do the secret level next?",
	} {
		resp, err := http.Get(base + ep)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
			t.Errorf("%s: %d, body lacks %q:\n%.2000s", ep, resp.StatusCode, want, body)
		}
	}

	cancel()
	if code := <-done; code != ExitOK {
		t.Fatalf("run exit code %d; stderr:\n%s", code, c.stderr.String())
	}
	done <- ExitOK // for the deferred receive
	if n := strings.Count(c.stdout.String(), "#demo"); n != len(want) {
		t.Errorf("console printed %d mentions, want exactly %d:\n%s", n, len(want), c.stdout.String())
	}
	st, err := store.Open(context.Background(), db, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	hist, err := st.History(context.Background(), time.Time{}, 1000)
	if err != nil || len(hist) != len(want) {
		t.Fatalf("history has %d mentions (%v), want %d", len(hist), err, len(want))
	}

	// history reads them back.
	c2 := newCLI(t)
	if code := c2.run(context.Background(), "history", "-config", path, "-grep", "secret level", "-json"); code != ExitOK {
		t.Fatalf("history: code %d; stderr %s", code, c2.stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(c2.stdout.String()), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], "secret level") {
		t.Errorf("history -grep: %q", c2.stdout.String())
	}
}

func TestRun_SaysWhatIsNotConfigured(t *testing.T) {
	path, _ := writeConfig(t, "[kick]\ndemo = false\n[http]\nlisten = \"\"\n[log]\nformat = \"json\"\n", "")
	c := newCLI(t)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan int, 1)
	go func() { done <- c.run(ctx, "run", "-config", path) }()
	waitFor(t, "the not-configured warnings", func() bool {
		_, a := logLine(c.stderr.String(), "no Kick channels configured: add [[kick.channels]] entries to the config; nothing will be read")
		_, b := logLine(c.stderr.String(), "kick.username is not set and there are no [[match.rules]]: nothing can match")
		return a && b
	})
	cancel()
	if code := <-done; code != ExitOK {
		t.Fatalf("exit code %d; stderr:\n%s", code, c.stderr.String())
	}
}
