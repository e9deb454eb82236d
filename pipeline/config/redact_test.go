package config

import (
	"strings"
	"testing"
)

func TestRedacted_HidesSecrets(t *testing.T) {
	secrets := map[string]string{
		"KICKWATCH_DISCORD_WEBHOOK_URL": "https://discord.com/api/webhooks/987654/HOOKTOKEN-xyz",
		"KICKWATCH_REMOTE_DB_API_KEY":   "DBKEY-eyJhbGciOi",
		"KICKWATCH_KICK_CLIENT_SECRET":  "CLIENTSECRET-abc",
		"KICKWATCH_HTTP_PASSWORD":       "HTTPPASSWORD-123",
	}
	c := mustParse(t, "[kick]\nusername = \"bob\"\n[http]\nbasic_auth_user = \"admin\"\nbasic_auth_password = \"FILEPASSWORD\"\n[remote_db]\nurl = \"https://p.supabase.co/rest/v1\"\n")
	if _, err := c.ApplyEnv(envFunc(secrets)); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	out := c.Redacted()
	for _, s := range []string{"HOOKTOKEN", "987654", "DBKEY", "CLIENTSECRET", "HTTPPASSWORD", "FILEPASSWORD"} {
		if strings.Contains(out, s) {
			t.Errorf("Redacted() contains %q:\n%s", s, out)
		}
	}
	for _, want := range []string{
		"webhook_url = 'https://discord.com/[redacted]'",
		"api_key = '[redacted]'",
		"client_secret = '[redacted]'",
		"basic_auth_password = '[redacted]'",
		"url = 'https://p.supabase.co/rest/v1'",
		"basic_auth_user = 'admin'",
		"# discord.webhook_url from $KICKWATCH_DISCORD_WEBHOOK_URL",
		"timeout = '12s'",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("Redacted() lacks %q:\n%s", want, out)
		}
	}
	// Redacting works on a copy.
	if c.RemoteDB.APIKey != secrets["KICKWATCH_REMOTE_DB_API_KEY"] {
		t.Errorf("Redacted() changed the config")
	}
	// The rendering is itself a valid config.
	if _, err := Parse([]byte(out), "redacted"); err != nil {
		t.Errorf("Redacted() output does not parse: %v", err)
	}
}

func TestRedactURL(t *testing.T) {
	tests := []struct {
		raw      string
		keepPath bool
		want     string
	}{
		{"", false, ""},
		{"https://discord.com/api/webhooks/1/tok", false, "https://discord.com/[redacted]"},
		{"https://u:p@db.example/rest/v1", true, "https://db.example/[redacted]"},
		{"https://db.example/rest/v1?apikey=k", true, "https://db.example/[redacted]"},
		{"https://db.example/rest/v1", true, "https://db.example/rest/v1"},
		{"not a url at all", false, "[redacted]"},
		{"://bad", true, "[redacted]"},
	}
	for _, tt := range tests {
		if got := redactURL(tt.raw, tt.keepPath); got != tt.want {
			t.Errorf("redactURL(%q, %v)=%q, want %q", tt.raw, tt.keepPath, got, tt.want)
		}
	}
}
