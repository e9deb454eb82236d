package config

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Bounds beyond which a value is surely a mistake.
const (
	maxFrameBytesLimit = 16 << 20 // a chat frame of 16 MiB is an attack, not chat
	maxBodyBytesLimit  = 16 << 20
	maxRegexLen        = 4096
	maxNameLen         = 64
)

// validator collects every problem, each located by the key's line or the
// environment variable that set it.
type validator struct {
	c    *Config
	errs Errors
}

func (v *validator) fail(key string, value any, format string, args ...any) {
	e := &Error{File: v.c.Source, Key: key, Msg: fmt.Sprintf(format, args...)}
	if value != nil {
		e.Value = render(value)
	}
	if env, ok := v.c.origins[key]; ok {
		e.Env = env
	} else {
		e.Line = v.c.lines[key]
	}
	v.errs = append(v.errs, e)
}

// Validate checks every value and the rules between them, and compiles the
// regex rules. It returns Errors with every problem, or nil.
func (c *Config) Validate() error {
	v := &validator{c: c}
	v.kick()
	v.webhook()
	v.match()
	v.store()
	v.delivery()
	v.discord()
	v.remoteDB()
	v.console()
	v.http()
	v.log()
	return v.errs.err()
}

func (v *validator) positive(key string, d Duration) {
	if d.Duration <= 0 {
		v.fail(key, d, "must be greater than zero")
	}
}

func (v *validator) nonNegative(key string, d Duration) {
	if d.Duration < 0 {
		v.fail(key, d, "must not be negative (0 turns it off)")
	}
}

func (v *validator) atLeast(key string, n, min int) {
	if n < min {
		v.fail(key, n, "must be at least %d", min)
	}
}

func (v *validator) oneOf(key string, value any, allowed ...string) {
	s := fmt.Sprint(value)
	for _, a := range allowed {
		if s == a {
			return
		}
	}
	v.fail(key, value, "must be one of %s", strings.Join(quoteAll(allowed), ", "))
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strconv.Quote(s)
	}
	return out
}

// Kick usernames are letters, digits and underscores.
var usernameRE = regexp.MustCompile(`^[A-Za-z0-9_]{1,64}$`)

// PostgREST table names: a plain Postgres identifier.
var tableRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)

// Channel slugs are Kick usernames with dashes, lower-cased.
var slugRE = regexp.MustCompile(`^[a-z0-9_-]{1,64}$`)

func (v *validator) username(key, name string) {
	switch {
	case strings.HasPrefix(name, "@"):
		v.fail(key, name, "write the name without the @")
	case !usernameRE.MatchString(name):
		v.fail(key, name, "not a Kick username (letters, digits and _ only)")
	}
}

func (v *validator) kick() {
	k := &v.c.Kick
	if k.Username != "" {
		v.username("kick.username", k.Username)
	}
	if k.UserID < 0 {
		v.fail("kick.user_id", k.UserID, "must not be negative (0 = unknown)")
	}
	for i, a := range k.Aliases {
		v.username(fmt.Sprintf("kick.aliases[%d]", i), a)
	}
	v.oneOf("kick.transport", k.Transport, string(TransportAuto), string(TransportCentrifugo), string(TransportPusher))
	v.url("kick.ws_url", k.WSURL, "ws", "wss")
	v.url("kick.api_url", k.APIURL, "http", "https")
	v.url("kick.realtime_url", k.RealtimeURL, "http", "https")
	v.positive("kick.connect_timeout", k.ConnectTimeout)
	v.positive("kick.ping_interval", k.PingInterval)
	v.positive("kick.pong_timeout", k.PongTimeout)
	v.positive("kick.resolve_timeout", k.ResolveTimeout)
	if k.MaxFrameBytes < 1024 || k.MaxFrameBytes > maxFrameBytesLimit {
		v.fail("kick.max_frame_bytes", k.MaxFrameBytes, "must be between 1024 and %d", maxFrameBytesLimit)
	}
	v.nonNegative("kick.silence_alarm", k.SilenceAlarm)
	v.atLeast("kick.failure_threshold", k.FailureThreshold, 1)
	v.positive("kick.recovery_timeout", k.RecoveryTimeout)
	seen := map[string]bool{}
	for i := range k.Channels {
		ch := &k.Channels[i]
		p := fmt.Sprintf("kick.channels[%d]", i)
		ch.Slug = strings.ToLower(strings.TrimSpace(ch.Slug))
		switch {
		case ch.Slug == "":
			v.failAt(p+".slug", p, nil, "missing: every [[kick.channels]] needs a slug (the name in kick.com/<slug>)")
		case !slugRE.MatchString(ch.Slug):
			v.fail(p+".slug", ch.Slug, "not a Kick channel slug (letters, digits, - and _)")
		case seen[ch.Slug]:
			v.fail(p+".slug", ch.Slug, "channel listed twice")
		}
		seen[ch.Slug] = true
		if ch.ChatroomID < 0 {
			v.fail(p+".chatroom_id", ch.ChatroomID, "must not be negative (0 = look it up)")
		}
		if ch.ChannelID < 0 {
			v.fail(p+".channel_id", ch.ChannelID, "must not be negative (0 = look it up)")
		}
	}
}

// failAt reports key at the line of another key (a table header) when key
// itself is absent from the file.
func (v *validator) failAt(key, at string, value any, format string, args ...any) {
	v.fail(key, value, format, args...)
	if e := v.errs[len(v.errs)-1]; e.Line == 0 && e.Env == "" {
		e.Line = v.c.lines[at]
	}
}

func (v *validator) webhook() {
	w := &v.c.Kick.Webhook
	switch {
	case w.Enabled && w.Listen == "":
		v.fail("kick.webhook.listen", w.Listen, "must be set when the webhook receiver is enabled")
	case w.Listen != "":
		v.listen("kick.webhook.listen", w.Listen)
	}
	if !strings.HasPrefix(w.Path, "/") || strings.ContainsAny(w.Path, " ?#\r\n") {
		v.fail("kick.webhook.path", w.Path, "must be a URL path starting with /")
	}
	v.positive("kick.webhook.max_skew", w.MaxSkew)
	if w.MaxBodyBytes < 1024 || w.MaxBodyBytes > maxBodyBytesLimit {
		v.fail("kick.webhook.max_body_bytes", w.MaxBodyBytes, "must be between 1024 and %d", maxBodyBytesLimit)
	}
}

func (v *validator) match() {
	m := &v.c.Match
	for i, s := range m.IgnoreSenders {
		if strings.Trim(s, "*") == "" {
			v.fail(fmt.Sprintf("match.ignore_senders[%d]", i), s, "matches every sender; remove it")
		}
	}
	v.nonNegative("match.cooldown", m.Cooldown)
	names := map[string]bool{}
	for i := range m.Rules {
		v.rule(&m.Rules[i], fmt.Sprintf("match.rules[%d]", i), names)
	}
}

func (v *validator) rule(r *Rule, p string, names map[string]bool) {
	r.Pattern = nil
	switch {
	case r.Name == "":
		v.failAt(p+".name", p, nil, "missing: every [[match.rules]] needs a name (it is recorded with each match)")
	case len(r.Name) > maxNameLen:
		v.fail(p+".name", r.Name, "longer than %d characters", maxNameLen)
	case names[r.Name]:
		v.fail(p+".name", r.Name, "rule name used twice")
	}
	names[r.Name] = true
	switch {
	case r.Keyword == "" && r.Regex == "":
		v.failAt(p+".keyword", p, nil, "a rule needs a keyword or a regex")
	case r.Keyword != "" && r.Regex != "":
		v.fail(p+".regex", r.Regex, "a rule has a keyword or a regex, not both")
	case r.Regex != "":
		if len(r.Regex) > maxRegexLen {
			v.fail(p+".regex", r.Regex, "longer than %d characters", maxRegexLen)
			break
		}
		expr := r.Regex
		if !r.CaseSensitive {
			expr = "(?i)" + expr
		}
		re, err := regexp.Compile(expr)
		if err != nil {
			v.fail(p+".regex", r.Regex, "not an RE2 regular expression: %s", strings.TrimPrefix(err.Error(), "error parsing regexp: "))
			break
		}
		if re.MatchString("") {
			v.fail(p+".regex", r.Regex, "matches every message (it matches the empty string)")
			break
		}
		r.Pattern = re
	}
	for i, ch := range r.Channels {
		r.Channels[i] = strings.ToLower(ch)
		if !slugRE.MatchString(r.Channels[i]) {
			v.fail(fmt.Sprintf("%s.channels[%d]", p, i), ch, "not a Kick channel slug")
		}
	}
	for i, ch := range r.ExcludeChannels {
		r.ExcludeChannels[i] = strings.ToLower(ch)
		if !slugRE.MatchString(r.ExcludeChannels[i]) {
			v.fail(fmt.Sprintf("%s.exclude_channels[%d]", p, i), ch, "not a Kick channel slug")
		}
	}
}

func (v *validator) store() {
	s := &v.c.Store
	if strings.TrimSpace(s.Path) == "" {
		v.fail("store.path", s.Path, "must name the database file")
	}
	v.oneOf("store.synchronous", s.Synchronous, string(SynchronousFull), string(SynchronousNormal))
	v.atLeast("store.outbox_cap_per_channel", s.OutboxCapPerChannel, 1)
	v.atLeast("store.outbox_cap_total", s.OutboxCapTotal, 1)
	if s.OutboxCapPerChannel >= 1 && s.OutboxCapTotal >= 1 && s.OutboxCapTotal < s.OutboxCapPerChannel {
		v.fail("store.outbox_cap_total", s.OutboxCapTotal, "must be at least store.outbox_cap_per_channel (%d)", s.OutboxCapPerChannel)
	}
	v.atLeast("store.history_days", s.HistoryDays, 0)
	v.positive("store.busy_timeout", s.BusyTimeout)
}

func (v *validator) delivery() {
	d := &v.c.Delivery
	v.positive("delivery.retry_initial", d.RetryInitial)
	v.positive("delivery.retry_max", d.RetryMax)
	if d.RetryInitial.Duration > 0 && d.RetryMax.Duration > 0 && d.RetryMax.Duration < d.RetryInitial.Duration {
		v.fail("delivery.retry_max", d.RetryMax, "must be at least delivery.retry_initial (%s)", d.RetryInitial)
	}
	v.positive("delivery.retry_budget", d.RetryBudget)
	v.positive("delivery.shutdown_timeout", d.ShutdownTimeout)
	v.positive("delivery.batch_window", d.BatchWindow)
	if d.BatchWindow.Duration > time.Second {
		v.fail("delivery.batch_window", d.BatchWindow, "must be at most 1s (it delays every mention)")
	}
	v.atLeast("delivery.buffer", d.Buffer, 1)
}

func (v *validator) discord() {
	d := &v.c.Discord
	if d.WebhookURL != "" {
		if msg := discordURLProblem(d.WebhookURL); msg != "" {
			v.fail("discord.webhook_url", redactURL(d.WebhookURL, false), "%s", msg)
		}
	}
	if d.Username != "" {
		low := strings.ToLower(d.Username)
		switch {
		case len([]rune(d.Username)) > 80:
			v.fail("discord.username", d.Username, "Discord allows at most 80 characters")
		case strings.Contains(low, "discord") || strings.Contains(low, "clyde") || low == "here" || low == "everyone":
			v.fail("discord.username", d.Username, "Discord rejects names containing \"discord\" or \"clyde\", and \"here\"/\"everyone\"")
		}
	}
	v.positive("discord.timeout", d.Timeout)
	v.atLeast("discord.failure_threshold", d.FailureThreshold, 1)
	v.positive("discord.recovery_timeout", d.RecoveryTimeout)
}

// isDiscordHost reports whether Discord serves webhooks from host.
func isDiscordHost(host string) bool {
	switch strings.ToLower(host) {
	case "discord.com", "discordapp.com", "canary.discord.com", "ptb.discord.com":
		return true
	}
	return false
}

var discordPathRE = regexp.MustCompile(`^/api(/v[0-9]+)?/webhooks/[0-9]+/[A-Za-z0-9_-]+/?$`)

// discordURLProblem accepts https://discord.com/api[/vN]/webhooks/ID/TOKEN
// (also discordapp.com, canary., ptb.), and any http(s) URL on a loopback
// host so tests and local fakes can stand in for Discord.
func discordURLProblem(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "not a URL; copy it from Discord: channel settings → Integrations → Webhooks → Copy Webhook URL"
	}
	if u.User != nil || u.Fragment != "" {
		return "must not contain credentials or a fragment"
	}
	if isLoopback(u.Hostname()) && (u.Scheme == "http" || u.Scheme == "https") {
		return ""
	}
	if u.Scheme != "https" || !isDiscordHost(u.Hostname()) || u.Port() != "" {
		return "must be an https://discord.com/api/webhooks/… URL (http is allowed only for a loopback test server)"
	}
	if !discordPathRE.MatchString(u.Path) {
		return "path must be /api/webhooks/<id>/<token>"
	}
	return ""
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (v *validator) remoteDB() {
	r := &v.c.RemoteDB
	if r.URL != "" {
		u, err := url.Parse(r.URL)
		switch {
		case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
			v.fail("remote_db.url", redactURL(r.URL, true), "not an http(s) URL; for Supabase write https://<project>.supabase.co/rest/v1")
		case u.User != nil || u.RawQuery != "" || u.Fragment != "":
			v.fail("remote_db.url", redactURL(r.URL, true), "must not contain credentials, a query or a fragment (the key goes in remote_db.api_key)")
		case u.Scheme == "http" && !isLoopback(u.Hostname()):
			v.fail("remote_db.url", redactURL(r.URL, true), "must be https (http is allowed only for a loopback server); the API key would travel in clear text")
		}
	}
	if !tableRE.MatchString(r.Table) {
		v.fail("remote_db.table", r.Table, "must be a plain table name (letters, digits, _)")
	}
	v.positive("remote_db.timeout", r.Timeout)
	v.atLeast("remote_db.failure_threshold", r.FailureThreshold, 1)
	v.positive("remote_db.recovery_timeout", r.RecoveryTimeout)
}

func (v *validator) console() {
	v.oneOf("console.enabled", v.c.Console.Enabled, string(ConsoleAuto), string(ConsoleOn), string(ConsoleOff))
}

func (v *validator) http() {
	h := &v.c.HTTP
	if h.Listen != "" {
		v.listen("http.listen", h.Listen)
	}
	if (h.BasicAuthUser == "") != (h.BasicAuthPassword == "") {
		v.fail("http.basic_auth_user", nil, "set both http.basic_auth_user and the password (KICKWATCH_HTTP_PASSWORD), or neither")
	}
	if strings.Contains(h.BasicAuthUser, ":") {
		v.fail("http.basic_auth_user", h.BasicAuthUser, "must not contain ':'")
	}
	v.positive("http.readiness_breaker_grace", h.ReadinessBreakerGrace)
}

// listen checks a host:port listen address.
func (v *validator) listen(key, addr string) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		v.fail(key, addr, "not a host:port address (e.g. \"127.0.0.1:9090\")")
		return
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		v.fail(key, addr, "port must be a number from 0 to 65535")
	}
	if strings.ContainsAny(host, " /") {
		v.fail(key, addr, "not a host:port address")
	}
}

func (v *validator) log() {
	v.oneOf("log.level", v.c.Log.Level, string(LevelDebug), string(LevelInfo), string(LevelWarn), string(LevelError))
	v.oneOf("log.format", v.c.Log.Format, string(FormatText), string(FormatJSON))
}

// url checks a non-secret URL's scheme.
func (v *validator) url(key, raw string, schemes ...string) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		v.fail(key, raw, "not a URL")
		return
	}
	for _, s := range schemes {
		if u.Scheme == s {
			return
		}
	}
	v.fail(key, raw, "scheme must be %s", strings.Join(schemes, " or "))
}
