package config

import (
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

func shipped(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile("../../config.toml")
	if err != nil {
		t.Fatalf("read shipped config: %v", err)
	}
	return b
}

func TestShippedConfig_ParsesAndValidates(t *testing.T) {
	c, err := Parse(shipped(t), "config.toml")
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("validate: %v", err)
	}
	if !c.DemoMode() {
		t.Errorf("DemoMode()=false, want true: the shipped config must run the offline demo")
	}
	if !c.ConsoleEnabled() {
		t.Errorf("ConsoleEnabled()=false, want true with no sinks configured")
	}
	if w := c.Warnings(); len(w) != 0 {
		t.Errorf("warnings on the shipped config: %v", w)
	}
}

// The shipped file documents every default; it must agree with the
// constants, apart from the demo settings it turns on.
func TestShippedConfig_MatchesDefaults(t *testing.T) {
	c, err := Parse(shipped(t), "config.toml")
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	if got, want := c.Kick.Username, "kickwatch_demo"; got != want {
		t.Errorf("kick.username=%q, want %q", got, want)
	}
	if !c.Kick.Demo {
		t.Errorf("kick.demo=false, want true")
	}
	got := *c
	got.Kick.Username, got.Kick.Demo = "", false
	got.Source, got.lines, got.fileSecrets = "", nil, nil
	want := *Default()
	// The file writes empty arrays where Default leaves nil slices.
	for _, s := range []*[]string{&got.Kick.Aliases, &got.Match.IgnoreSenders} {
		if len(*s) == 0 {
			*s = nil
		}
	}
	if len(got.Kick.Channels) == 0 {
		got.Kick.Channels = nil
	}
	if len(got.Match.Rules) == 0 {
		got.Match.Rules = nil
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("config.toml and Default() differ:\nfile:    %+v\ndefault: %+v", got, want)
	}
}

// Every key of the Config struct appears in the shipped file, so the example
// documents them all.
func TestShippedConfig_DocumentsEveryKey(t *testing.T) {
	lines, errs := walk(shipped(t), "config.toml")
	if len(errs) > 0 {
		t.Fatalf("walk: %v", errs)
	}
	// Array-of-tables fields are documented in comments, not as live keys.
	skip := map[string]bool{"kick.channels": true, "match.rules": true}
	var missing []string
	var visit func(typ reflect.Type, path string)
	visit = func(typ reflect.Type, path string) {
		for i := range typ.NumField() {
			f := typ.Field(i)
			name := tagName(f)
			if !f.IsExported() || name == "-" || name == "" {
				continue
			}
			p := join(path, name)
			if skip[p] {
				continue
			}
			if isTable(f.Type) {
				visit(f.Type, p)
				continue
			}
			if _, ok := lines[p]; !ok {
				missing = append(missing, p)
			}
		}
	}
	visit(reflect.TypeFor[Config](), "")
	if len(missing) > 0 {
		t.Errorf("keys missing from config.toml: %v", missing)
	}
	text := string(shipped(t))
	for _, k := range []string{"[[kick.channels]]", "chatroom_id", "channel_id", "[[match.rules]]", "keyword", "regex", "case_sensitive", "exclude_channels"} {
		if !strings.Contains(text, k) {
			t.Errorf("config.toml does not mention %s", k)
		}
	}
}

func TestDuration_String(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "0s"},
		{5 * time.Millisecond, "5ms"},
		{30 * time.Second, "30s"},
		{time.Minute, "1m"},
		{90 * time.Second, "1m30s"},
		{24 * time.Hour, "24h"},
		{time.Hour + time.Second, "1h0m1s"},
	}
	for _, tt := range tests {
		if got := D(tt.d).String(); got != tt.want {
			t.Errorf("D(%v).String()=%q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestConfig_ConsoleEnabled(t *testing.T) {
	tests := []struct {
		mode    ConsoleMode
		discord string
		want    bool
	}{
		{ConsoleAuto, "", true},
		{ConsoleAuto, "https://discord.com/api/webhooks/1/x", false},
		{ConsoleOn, "https://discord.com/api/webhooks/1/x", true},
		{ConsoleOff, "", false},
	}
	for _, tt := range tests {
		c := Default()
		c.Console.Enabled = tt.mode
		c.Discord.WebhookURL = tt.discord
		if got := c.ConsoleEnabled(); got != tt.want {
			t.Errorf("mode %q discord %q: ConsoleEnabled()=%v, want %v", tt.mode, tt.discord, got, tt.want)
		}
	}
}

func TestParse_ConsoleAcceptsBool(t *testing.T) {
	for _, doc := range []string{"[console]\nenabled = false\n", "[console]\nenabled = \"false\"\n"} {
		c := mustParse(t, doc)
		if got, want := c.Console.Enabled, ConsoleOff; got != want {
			t.Errorf("%q: console.enabled=%q, want %q", doc, got, want)
		}
	}
}

func TestConfig_ChannelsAndDemo(t *testing.T) {
	c := mustParse(t, `
[kick]
username = "bob"
demo = true
[[kick.channels]]
slug = "XQc"
chatroom_id = 668
[[kick.channels]]
slug = "other"
channel_id = 7
`)
	if c.DemoMode() {
		t.Errorf("DemoMode()=true with channels configured, want false")
	}
	chs := c.Channels()
	if got, want := len(chs), 2; got != want {
		t.Fatalf("channels=%d, want %d", got, want)
	}
	if got, want := chs[0].Slug, "xqc"; got != want {
		t.Errorf("slug=%q, want %q (slugs are lower-cased)", got, want)
	}
	if got, want := chs[0].ChatroomID, int64(668); got != want {
		t.Errorf("chatroom_id=%d, want %d", got, want)
	}
	if got, want := chs[1].ChannelID, int64(7); got != want {
		t.Errorf("channel_id=%d, want %d", got, want)
	}
	if !hasWarning(c.Warnings(), "kick.demo") {
		t.Errorf("no warning that demo is ignored: %v", c.Warnings())
	}
}

func TestConfig_RegexCompiled(t *testing.T) {
	c := mustParse(t, `
[[match.rules]]
name = "bug"
regex = '\bbugs?\b'

[[match.rules]]
name = "exact"
regex = 'Bug'
case_sensitive = true
channels = ["Some_Chan"]

[[match.rules]]
name = "kw"
keyword = "giveaway"
`)
	r := c.Match.Rules
	if r[0].Pattern == nil || !r[0].Pattern.MatchString("found BUGS here") {
		t.Errorf("rule bug: case-insensitive pattern does not match BUGS")
	}
	if r[1].Pattern == nil || r[1].Pattern.MatchString("bug") {
		t.Errorf("rule exact: case-sensitive pattern matches lower case")
	}
	if got, want := r[1].Channels[0], "some_chan"; got != want {
		t.Errorf("rule channel=%q, want %q", got, want)
	}
	if r[2].Pattern != nil {
		t.Errorf("keyword rule has a compiled pattern")
	}
}

func TestLogLevel_Slog(t *testing.T) {
	if got, want := LevelDebug.Slog().String(), "DEBUG"; got != want {
		t.Errorf("debug=%s, want %s", got, want)
	}
	if got, want := LevelError.Slog().String(), "ERROR"; got != want {
		t.Errorf("error=%s, want %s", got, want)
	}
}

// mustParse parses and validates doc, failing the test on any error.
func mustParse(t *testing.T, doc string) *Config {
	t.Helper()
	c, err := Parse([]byte(doc), "test.toml")
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("validate: %v", err)
	}
	return c
}

func hasWarning(ws []Warning, key string) bool {
	for _, w := range ws {
		if w.Key == key {
			return true
		}
	}
	return false
}
