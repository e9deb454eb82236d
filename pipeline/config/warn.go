package config

import (
	"fmt"
	"net"
)

// Warnings returns what is valid but probably unintended: nothing to watch,
// nothing to match, a demo setting that no longer applies, a listener open
// beyond loopback without a password, a database without an API key.
func (c *Config) Warnings() []Warning {
	var ws []Warning
	add := func(key, format string, args ...any) {
		ws = append(ws, Warning{key, fmt.Sprintf(format, args...)})
	}
	k := &c.Kick
	switch {
	case k.Demo && len(k.Channels) > 0:
		add("kick.demo", "demo = true is ignored because [[kick.channels]] are configured; set demo = false")
	case !k.Demo && len(k.Channels) == 0 && !k.Webhook.Enabled:
		add("kick.channels", "no [[kick.channels]] configured and demo is off: there is no chat to watch")
	}
	if k.Username == "" && len(k.Aliases) == 0 && len(c.Match.Rules) == 0 {
		add("kick.username", "not set, and no aliases or [[match.rules]]: nothing can match")
	}
	if c.HTTP.Listen != "" && c.HTTP.BasicAuthUser == "" && !loopbackAddr(c.HTTP.Listen) {
		add("http.listen", "%s is reachable beyond this machine without a password; set http.basic_auth_user and KICKWATCH_HTTP_PASSWORD", c.HTTP.Listen)
	}
	if c.RemoteDB.URL != "" && c.RemoteDB.APIKey == "" {
		add("remote_db.api_key", "not set; Supabase refuses requests without it (set KICKWATCH_REMOTE_DB_API_KEY)")
	}
	if !c.DemoMode() && c.ConsoleEnabled() && !c.DiscordEnabled() && !c.RemoteDBEnabled() {
		add("discord.webhook_url", "no Discord webhook and no remote database: mentions are only printed on the console")
	}
	if !c.ConsoleEnabled() && !c.DiscordEnabled() && !c.RemoteDBEnabled() {
		add("console.enabled", "every sink is off: mentions are stored but delivered nowhere")
	}
	return ws
}

func loopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	return err == nil && isLoopback(host)
}
