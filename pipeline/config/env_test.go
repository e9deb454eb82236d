package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func envFunc(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func writeFile(t *testing.T, dir, name, content string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil { // WriteFile's mode is masked by umask
		t.Fatal(err)
	}
	return p
}

const testHook = "https://discord.com/api/webhooks/123456/SECRET-token_value"

func TestApplyEnv_Direct(t *testing.T) {
	c := Default()
	warns, err := c.ApplyEnv(envFunc(map[string]string{
		"KICKWATCH_DISCORD_WEBHOOK_URL": testHook,
		"KICKWATCH_REMOTE_DB_URL":       "https://p.supabase.co/rest/v1",
		"KICKWATCH_REMOTE_DB_API_KEY":   "db-key",
		"KICKWATCH_KICK_CLIENT_ID":      "cid",
		"KICKWATCH_KICK_CLIENT_SECRET":  "csecret",
		"KICKWATCH_HTTP_PASSWORD":       "pw",
	}))
	if err != nil || len(warns) != 0 {
		t.Fatalf("ApplyEnv: warns=%v err=%v", warns, err)
	}
	checks := []struct{ got, want string }{
		{c.Discord.WebhookURL, testHook},
		{c.RemoteDB.URL, "https://p.supabase.co/rest/v1"},
		{c.RemoteDB.APIKey, "db-key"},
		{c.Kick.Webhook.ClientID, "cid"},
		{c.Kick.Webhook.ClientSecret, "csecret"},
		{c.HTTP.BasicAuthPassword, "pw"},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("got %q, want %q", ch.got, ch.want)
		}
	}
}

func TestApplyEnv_File(t *testing.T) {
	dir := t.TempDir()
	key := writeFile(t, dir, "key", "file-key\r\n", 0o600)
	hook := writeFile(t, dir, "hook", testHook+"\n\n", 0o600)
	c := mustParse(t, "[remote_db]\napi_key = \"from-config\"\n")
	_, err := c.ApplyEnv(envFunc(map[string]string{
		"KICKWATCH_REMOTE_DB_API_KEY_FILE":   key,
		"KICKWATCH_DISCORD_WEBHOOK_URL_FILE": hook,
	}))
	if err != nil {
		t.Fatalf("ApplyEnv: %v", err)
	}
	if got, want := c.RemoteDB.APIKey, "file-key"; got != want {
		t.Errorf("api_key=%q, want %q (file beats config, newline trimmed)", got, want)
	}
	if got, want := c.Discord.WebhookURL, testHook; got != want {
		t.Errorf("webhook_url=%q, want %q", got, want)
	}
}

func TestApplyEnv_DirectBeatsFile(t *testing.T) {
	key := writeFile(t, t.TempDir(), "key", "from-file", 0o600)
	c := Default()
	warns, err := c.ApplyEnv(envFunc(map[string]string{
		"KICKWATCH_REMOTE_DB_API_KEY":      "from-env",
		"KICKWATCH_REMOTE_DB_API_KEY_FILE": key,
	}))
	if err != nil {
		t.Fatalf("ApplyEnv: %v", err)
	}
	if got, want := c.RemoteDB.APIKey, "from-env"; got != want {
		t.Errorf("api_key=%q, want %q", got, want)
	}
	if !hasWarning(warns, "remote_db.api_key") {
		t.Errorf("no warning that both were set: %v", warns)
	}
}

func TestApplyEnv_FileErrorsNameVariableNotContent(t *testing.T) {
	dir := t.TempDir()
	big := writeFile(t, dir, "big", strings.Repeat("SECRETSECRET", MaxSecretFileBytes/12+1), 0o600)
	empty := writeFile(t, dir, "empty", "\n", 0o600)
	unreadable := writeFile(t, dir, "locked", "SECRETSECRET", 0o000)
	tests := []struct {
		name, path, want string
	}{
		{"missing", filepath.Join(dir, "nope"), "no such file"},
		{"too big", big, "larger than the 65536-byte limit"},
		{"empty", empty, "is empty"},
		{"directory", dir, "not a regular file"},
	}
	if os.Geteuid() != 0 { // root reads a mode-000 file anyway
		tests = append(tests, struct{ name, path, want string }{"unreadable", unreadable, "permission denied"})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			_, err := c.ApplyEnv(envFunc(map[string]string{"KICKWATCH_HTTP_PASSWORD_FILE": tt.path}))
			var es Errors
			if !errors.As(err, &es) || len(es) != 1 {
				t.Fatalf("err=%v, want one Errors entry", err)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "KICKWATCH_HTTP_PASSWORD_FILE: http.basic_auth_password: ") {
				t.Errorf("error %q does not name the variable and key first", msg)
			}
			if !strings.Contains(msg, tt.want) {
				t.Errorf("error %q, want it to contain %q", msg, tt.want)
			}
			if strings.Contains(msg, "SECRET") {
				t.Errorf("error %q leaks the file content", msg)
			}
		})
	}
}

// A bad secret from the environment is reported against the variable, and
// its value stays hidden.
func TestLoad_BadEnvValueNamesVariable(t *testing.T) {
	_, _, err := Load(Options{
		Defaults: []byte(""),
		Search:   []string{},
		Getenv:   envFunc(map[string]string{"KICKWATCH_DISCORD_WEBHOOK_URL": "https://example.com/api/webhooks/1/SECRETTOKEN"}),
	})
	if err == nil {
		t.Fatal("no error for a non-Discord webhook URL")
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "KICKWATCH_DISCORD_WEBHOOK_URL: discord.webhook_url = \"https://example.com/[redacted]\"") {
		t.Errorf("error %q does not name the variable", msg)
	}
	if strings.Contains(msg, "SECRETTOKEN") {
		t.Errorf("error %q leaks the token", msg)
	}
}

func TestEnvVars(t *testing.T) {
	vars := EnvVars()
	for env, key := range map[string]string{
		"KICKWATCH_DISCORD_WEBHOOK_URL": "discord.webhook_url",
		"KICKWATCH_REMOTE_DB_API_KEY":   "remote_db.api_key",
		"KICKWATCH_HTTP_PASSWORD":       "http.basic_auth_password",
		"KICKWATCH_KICK_CLIENT_SECRET":  "kick.webhook.client_secret",
	} {
		if got := vars[env]; got != key {
			t.Errorf("EnvVars()[%s]=%q, want %q", env, got, key)
		}
	}
}
