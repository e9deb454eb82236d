package discord

import (
	"errors"
	"net"
	"net/url"
	"strings"
)

// errBadWebhookURL never carries the URL: it holds the webhook's token.
var errBadWebhookURL = errors.New("invalid discord webhook URL: want https://discord.com/api/webhooks/{id}/{token}")

// discordHosts are the hosts Discord serves webhooks from (reference A1).
var discordHosts = map[string]bool{
	"discord.com": true, "ptb.discord.com": true, "canary.discord.com": true,
	"discordapp.com": true, "ptb.discordapp.com": true, "canary.discordapp.com": true,
}

// webhook is a validated webhook URL, split so the token can be redacted.
type webhook struct {
	post  string // the URL to POST to, with wait=true added
	token string // the secret part, for redaction; "" for loopback test URLs
}

// parseWebhook validates raw: a Discord webhook URL, or any http(s) URL on a
// loopback host (tests and fakes). Its errors never echo raw.
func parseWebhook(raw string) (webhook, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.User != nil || u.Fragment != "" || u.Opaque != "" {
		return webhook{}, errBadWebhookURL
	}
	var token string
	switch {
	case (u.Scheme == "http" || u.Scheme == "https") && isLoopback(u.Hostname()):
		token = lastSegment(u.Path)
	case u.Scheme == "https" && discordHosts[strings.ToLower(u.Hostname())] && u.Port() == "":
		t, ok := discordPath(u.Path)
		if !ok {
			return webhook{}, errBadWebhookURL
		}
		token = t
	default:
		return webhook{}, errBadWebhookURL
	}
	q := u.Query()
	q.Set("wait", "true")
	u.RawQuery = q.Encode()
	return webhook{post: u.String(), token: token}, nil
}

// discordPath checks /api[/vN]/webhooks/{id}/{token} and returns the token.
func discordPath(p string) (string, bool) {
	seg := strings.Split(strings.Trim(p, "/"), "/")
	if len(seg) == 5 && strings.HasPrefix(seg[1], "v") && allDigits(seg[1][1:]) {
		seg = append(seg[:1], seg[2:]...)
	}
	if len(seg) != 4 || seg[0] != "api" || seg[1] != "webhooks" || !allDigits(seg[2]) {
		return "", false
	}
	tok := seg[3]
	if len(tok) < 8 || len(tok) > 200 {
		return "", false
	}
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return "", false
		}
	}
	return tok, true
}

func allDigits(s string) bool {
	if s == "" || len(s) > 20 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func lastSegment(p string) string {
	p = strings.TrimRight(p, "/")
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[i+1:]
	}
	return p
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// redact removes the webhook URL and token from s.
func (w webhook) redact(s string) string {
	if w.post != "" {
		s = strings.ReplaceAll(s, w.post, "[webhook]")
	}
	if len(w.token) >= 4 {
		s = strings.ReplaceAll(s, w.token, "[redacted]")
	}
	return s
}
