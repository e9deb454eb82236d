package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSearchPaths(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"xdg", map[string]string{"XDG_CONFIG_HOME": "/x", "HOME": "/home/u"},
			[]string{"config.toml", "/x/kickwatch/config.toml", "/etc/kickwatch/config.toml"}},
		{"home fallback", map[string]string{"HOME": "/home/u"},
			[]string{"config.toml", "/home/u/.config/kickwatch/config.toml", "/etc/kickwatch/config.toml"}},
		{"relative xdg ignored", map[string]string{"XDG_CONFIG_HOME": "rel", "HOME": "/home/u"},
			[]string{"config.toml", "/home/u/.config/kickwatch/config.toml", "/etc/kickwatch/config.toml"}},
		{"neither", map[string]string{},
			[]string{"config.toml", "/etc/kickwatch/config.toml"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := SearchPaths(envFunc(tt.env))
			if strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Errorf("SearchPaths=%v, want %v", got, tt.want)
			}
		})
	}
}

func TestLoad_SearchOrder(t *testing.T) {
	dir := t.TempDir()
	cwd := filepath.Join(dir, "cwd")
	xdg := filepath.Join(dir, "xdg")
	etc := filepath.Join(dir, "etc")
	for _, d := range []string{cwd, filepath.Join(xdg, "kickwatch"), etc} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(cwd)
	env := envFunc(map[string]string{"XDG_CONFIG_HOME": xdg})
	search := append(SearchPaths(env)[:2], filepath.Join(etc, "config.toml"))
	defaults := []byte("[kick]\nusername = \"embedded\"\ndemo = true\n")
	load := func() *Config {
		t.Helper()
		c, _, err := Load(Options{Defaults: defaults, Getenv: env, Search: search})
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		return c
	}
	step := func(wantUser, wantSource string) {
		t.Helper()
		c := load()
		if c.Kick.Username != wantUser || c.Source != wantSource {
			t.Errorf("username=%q source=%q, want %q from %q", c.Kick.Username, c.Source, wantUser, wantSource)
		}
	}
	step("embedded", EmbeddedSource)
	etcFile := writeFile(t, etc, "config.toml", "[kick]\nusername = \"etc\"\ndemo = true\n", 0o644)
	step("etc", etcFile)
	xdgFile := writeFile(t, filepath.Join(xdg, "kickwatch"), "config.toml", "[kick]\nusername = \"xdg\"\ndemo = true\n", 0o644)
	step("xdg", xdgFile)
	writeFile(t, cwd, "config.toml", "[kick]\nusername = \"cwd\"\ndemo = true\n", 0o644)
	step("cwd", "config.toml")

	// An explicit path beats them all.
	explicit := writeFile(t, dir, "mine.toml", "[kick]\nusername = \"explicit\"\ndemo = true\n", 0o644)
	c, _, err := Load(Options{Path: explicit, Defaults: defaults, Getenv: env, Search: search})
	if err != nil || c.Kick.Username != "explicit" || c.Source != explicit {
		t.Errorf("explicit: c=%v err=%v", c, err)
	}
	if got, err := Locate(Options{Getenv: env, Search: search}); err != nil || got != "config.toml" {
		t.Errorf("Locate=%q, %v; want config.toml", got, err)
	}
}

func TestLoad_MissingExplicitPath(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope.toml")
	_, _, err := Load(Options{Path: missing, Defaults: shipped(t)})
	if err == nil || !strings.Contains(err.Error(), "config file "+missing+": no such file or directory") {
		t.Fatalf("err=%v, want a missing-file error naming the path", err)
	}
}

func TestLoad_EmbeddedDefault(t *testing.T) {
	defaults := shipped(t)
	t.Chdir(t.TempDir())
	c, warns, err := Load(Options{Defaults: defaults, Getenv: envFunc(nil), Search: []string{"config.toml"}})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.Source != EmbeddedSource || !c.DemoMode() || len(warns) != 0 {
		t.Errorf("source=%q demo=%v warns=%v; want the embedded demo, no warnings", c.Source, c.DemoMode(), warns)
	}
}

func TestLoad_ErrorsCarryFileName(t *testing.T) {
	p := writeFile(t, t.TempDir(), "bad.toml", "[store]\noutbox_cap_per_channel = -1\n", 0o600)
	_, _, err := Load(Options{Path: p, Getenv: envFunc(nil)})
	if err == nil || !strings.Contains(err.Error(), p+":2: store.outbox_cap_per_channel = -1: must be at least 1") {
		t.Fatalf("err=%v", err)
	}
}

func TestLoad_SizeLimit(t *testing.T) {
	p := writeFile(t, t.TempDir(), "big.toml", strings.Repeat("#\n", MaxFileBytes/2+1), 0o600)
	_, _, err := Load(Options{Path: p, Getenv: envFunc(nil)})
	if err == nil || !strings.Contains(err.Error(), "the limit is 1048576 (1 MiB)") {
		t.Fatalf("err=%v, want a size-limit error", err)
	}
}

func TestLoad_PermissionWarning(t *testing.T) {
	const withSecret = "[kick]\nusername = \"bob\"\n[[kick.channels]]\nslug = \"c\"\n[discord]\nwebhook_url = \"" + testHook + "\"\n"
	const noSecret = "[kick]\nusername = \"bob\"\n[[kick.channels]]\nslug = \"c\"\n"
	tests := []struct {
		name string
		doc  string
		mode os.FileMode
		env  map[string]string
		want bool
	}{
		{"secret world-readable", withSecret, 0o644, nil, true},
		{"secret group-readable", withSecret, 0o640, nil, true},
		{"secret private", withSecret, 0o600, nil, false},
		{"no secret world-readable", noSecret, 0o644, map[string]string{"KICKWATCH_DISCORD_WEBHOOK_URL": testHook}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeFile(t, t.TempDir(), "c.toml", tt.doc, tt.mode)
			_, warns, err := Load(Options{Path: p, Getenv: envFunc(tt.env)})
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			var got bool
			for _, w := range warns {
				if strings.Contains(w.Msg, "readable by group or others") {
					got = true
					if strings.Contains(w.String(), "SECRET") {
						t.Errorf("warning leaks the secret: %s", w)
					}
				}
			}
			if got != tt.want {
				t.Errorf("permission warning=%v, want %v (warnings %v)", got, tt.want, warns)
			}
		})
	}
}

func TestLoad_Warnings(t *testing.T) {
	tests := []struct {
		name, doc, key string
	}{
		{"nothing to watch", "[kick]\nusername = \"bob\"\n", "kick.channels"},
		{"nothing to match", "[[kick.channels]]\nslug = \"a\"\n", "kick.username"},
		{"public listener", "[kick]\nusername = \"bob\"\ndemo = true\n[http]\nlisten = \"0.0.0.0:9090\"\n", "http.listen"},
		{"db without key", "[kick]\nusername = \"bob\"\ndemo = true\n[remote_db]\nurl = \"https://p.supabase.co/rest/v1\"\n", "remote_db.api_key"},
		{"all sinks off", "[kick]\nusername = \"bob\"\ndemo = true\n[console]\nenabled = false\n", "console.enabled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, warns, err := Load(Options{Defaults: []byte(tt.doc), Search: []string{}, Getenv: envFunc(nil)})
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if !hasWarning(warns, tt.key) {
				t.Errorf("no warning for %s: %v", tt.key, warns)
			}
		})
	}
}
