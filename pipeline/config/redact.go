package config

import (
	"fmt"
	"net/url"
	"sort"
	"strings"

	"github.com/pelletier/go-toml/v2"
)

// Redacted is the placeholder shown instead of a secret.
const Redacted = "[redacted]"

// Redacted renders the effective settings as TOML for `kickwatch check`,
// with every secret replaced: API keys, passwords and the client secret by
// "[redacted]", the Discord webhook URL by its scheme and host. A header
// says where the settings and any environment overrides came from.
func (c *Config) Redacted() string {
	r := *c
	r.Discord.WebhookURL = redactURL(c.Discord.WebhookURL, false)
	r.RemoteDB.URL = redactURL(c.RemoteDB.URL, true)
	for _, s := range r.secrets() {
		if s.secret && *s.ptr != "" && s.key != "discord.webhook_url" {
			*s.ptr = Redacted
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# source: %s\n", c.Source)
	keys := make([]string, 0, len(c.origins))
	for k := range c.origins {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "# %s from $%s\n", k, c.origins[k])
	}
	out, err := toml.Marshal(&r)
	if err != nil {
		fmt.Fprintf(&b, "# cannot render the settings: %v\n", err)
		return b.String()
	}
	b.Write(out)
	return b.String()
}

// redactURL keeps a URL's scheme and host; the path too when keepPath (a
// PostgREST base path is not secret, a Discord webhook's token is).
// Credentials, query and fragment are always dropped.
func redactURL(raw string, keepPath bool) string {
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || strings.ContainsAny(u.Host, " \t\r\n") {
		return Redacted
	}
	s := u.Scheme + "://" + u.Host
	if keepPath && u.User == nil && u.RawQuery == "" && u.Fragment == "" {
		return s + u.EscapedPath()
	}
	return s + "/" + Redacted
}
