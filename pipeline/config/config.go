// Package config loads, checks and renders kickwatch's settings.
//
// The order is Default → Parse (the TOML file, read over the defaults) →
// ApplyEnv (secrets from the environment) → Validate. Load does all of it and
// finds the file. Nothing here logs, exits or keeps global state: problems come
// back as Errors and Warnings for the caller to print.
package config

import (
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"kickwatch/pipeline"
)

// Defaults. Each one is also written, with the same value, in the repository's
// config.toml (a test keeps the two in step).
const (
	// DefaultWSURL is Kick's public Pusher app (key 32cbd69e… since July 2024).
	DefaultWSURL = "wss://ws-us2.pusher.com/app/32cbd69e4b950bf97679?protocol=7&client=js&version=8.4.0&flash=false"
	// DefaultAPIURL is the website API that resolves a slug to its chatroom id.
	DefaultAPIURL = "https://kick.com/api/v2"
	// DefaultRealtimeURL is where Kick's web client negotiates its chat transport.
	DefaultRealtimeURL = "https://web.kick.com/api/v1/realtime"
	// DefaultConnectTimeout is the seed's WebSocket connect timeout.
	DefaultConnectTimeout = 30 * time.Second
	// DefaultPingInterval is the seed's ping period, well inside Kick's 120 s activity_timeout.
	DefaultPingInterval = 30 * time.Second
	// DefaultPongTimeout is the seed's wait for a pong before the socket counts as dead.
	DefaultPongTimeout = 10 * time.Second
	// DefaultResolveTimeout bounds one slug → chatroom id lookup.
	DefaultResolveTimeout = 10 * time.Second
	// DefaultMaxFrameBytes: chat frames are about 1 KiB; 256 KiB bounds memory with ample headroom.
	DefaultMaxFrameBytes = 256 << 10
	// DefaultSilenceAlarm: a live channel that carries no chat for 6 h means Kick moved its chat elsewhere.
	DefaultSilenceAlarm = 6 * time.Hour
	// DefaultKickFailureThreshold is the connection breaker's threshold, as for Discord.
	DefaultKickFailureThreshold = 5
	// DefaultKickRecoveryTimeout is how long the connection breaker stays open.
	DefaultKickRecoveryTimeout = 60 * time.Second

	// DefaultWebhookListen keeps Kick's webhook receiver on loopback, behind a proxy or tunnel.
	DefaultWebhookListen = "127.0.0.1:8081"
	// DefaultWebhookPath is the path Kick posts chat events to.
	DefaultWebhookPath = "/kick/webhook"
	// DefaultWebhookMaxSkew rejects replayed deliveries older than 5 minutes.
	DefaultWebhookMaxSkew = 5 * time.Minute
	// DefaultWebhookMaxBodyBytes: a chat.message.sent body is about 1 KiB.
	DefaultWebhookMaxBodyBytes = 64 << 10

	// DefaultStorePath is relative to the working directory (systemd: StateDirectory).
	DefaultStorePath = "kickwatch.db"
	// DefaultSynchronous: a mention the store acknowledged survives power loss.
	DefaultSynchronous = SynchronousFull
	// DefaultOutboxCapPerChannel is the seed's deque(maxlen=500) per channel.
	DefaultOutboxCapPerChannel = 500
	// DefaultOutboxCapTotal bounds the database at a few tens of MB across 100 channels.
	DefaultOutboxCapTotal = 50000
	// DefaultHistoryDays keeps a month of delivered mentions for `kickwatch history`.
	DefaultHistoryDays = 30
	// DefaultBusyTimeout rides out a concurrent `kickwatch outbox` command holding the lock.
	DefaultBusyTimeout = 5 * time.Second

	// DefaultRetryInitial is the first retry delay after a failed delivery.
	DefaultRetryInitial = time.Second
	// DefaultRetryMax caps the exponential retry delay.
	DefaultRetryMax = 60 * time.Second
	// DefaultRetryBudget: a mention older than a day is dead-lettered for that sink, not retried forever.
	DefaultRetryBudget = 24 * time.Hour
	// DefaultShutdownTimeout is how long in-flight deliveries may finish after SIGTERM.
	DefaultShutdownTimeout = 10 * time.Second
	// DefaultBatchWindow groups matches into one commit; 5 ms is invisible to a human reader.
	DefaultBatchWindow = 5 * time.Millisecond
	// DefaultBuffer is the seed's 500 messages per channel between socket and store.
	DefaultBuffer = 500

	// DefaultDiscordTimeout is the seed's Discord send timeout.
	DefaultDiscordTimeout = 12 * time.Second
	// DefaultDiscordFailureThreshold is the seed's Discord breaker: 5 failures open it…
	DefaultDiscordFailureThreshold = 5
	// DefaultDiscordRecoveryTimeout …for 60 s.
	DefaultDiscordRecoveryTimeout = 60 * time.Second

	// DefaultRemoteDBTable is the seed's table name.
	DefaultRemoteDBTable = "kick_notifications"
	// DefaultRemoteDBTimeout is the seed's database save timeout.
	DefaultRemoteDBTimeout = 15 * time.Second
	// DefaultRemoteDBFailureThreshold is the seed's database breaker: 10 failures open it…
	DefaultRemoteDBFailureThreshold = 10
	// DefaultRemoteDBRecoveryTimeout …for 120 s.
	DefaultRemoteDBRecoveryTimeout = 120 * time.Second

	// DefaultHTTPListen serves health and metrics on loopback only.
	DefaultHTTPListen = "127.0.0.1:9090"
	// DefaultReadinessBreakerGrace: a breaker open longer than this fails readiness.
	DefaultReadinessBreakerGrace = 5 * time.Minute
)

// Config is the whole of kickwatch's settings. Field tags are the TOML keys,
// which are a user-facing contract.
type Config struct {
	Kick     Kick     `toml:"kick"`
	Match    Match    `toml:"match"`
	Store    Store    `toml:"store"`
	Delivery Delivery `toml:"delivery"`
	Discord  Discord  `toml:"discord"`
	RemoteDB RemoteDB `toml:"remote_db"`
	Console  Console  `toml:"console"`
	HTTP     HTTP     `toml:"http"`
	Log      Log      `toml:"log"`

	// Source is the file the settings came from, or EmbeddedSource.
	Source string `toml:"-"`

	lines       map[string]int    // key path → line in Source
	origins     map[string]string // key path → environment variable that set it
	fileSecrets []string          // secret keys with a value written in the file
}

// Kick is the chat source.
type Kick struct {
	Username         string    `toml:"username"`
	UserID           int64     `toml:"user_id"`
	Aliases          []string  `toml:"aliases"`
	Demo             bool      `toml:"demo"`
	Transport        Transport `toml:"transport"`
	WSURL            string    `toml:"ws_url"`
	APIURL           string    `toml:"api_url"`
	RealtimeURL      string    `toml:"realtime_url"`
	ConnectTimeout   Duration  `toml:"connect_timeout"`
	PingInterval     Duration  `toml:"ping_interval"`
	PongTimeout      Duration  `toml:"pong_timeout"`
	ResolveTimeout   Duration  `toml:"resolve_timeout"`
	MaxFrameBytes    int       `toml:"max_frame_bytes"`
	SilenceAlarm     Duration  `toml:"silence_alarm"`
	FailureThreshold int       `toml:"failure_threshold"`
	RecoveryTimeout  Duration  `toml:"recovery_timeout"`
	Channels         []Channel `toml:"channels"`
	Webhook          Webhook   `toml:"webhook"`
}

// Channel is one [[kick.channels]] entry. Ids of 0 are looked up.
type Channel struct {
	Slug       string `toml:"slug"`
	ChatroomID int64  `toml:"chatroom_id"`
	ChannelID  int64  `toml:"channel_id"`
}

// Webhook is [kick.webhook]: Kick's official, signed chat.message.sent events.
type Webhook struct {
	Enabled       bool     `toml:"enabled"`
	Listen        string   `toml:"listen"`
	Path          string   `toml:"path"`
	PublicKeyFile string   `toml:"public_key_file"`
	MaxSkew       Duration `toml:"max_skew"`
	MaxBodyBytes  int      `toml:"max_body_bytes"`
	ClientID      string   `toml:"client_id"`
	ClientSecret  string   `toml:"client_secret"`
}

// Match is [match]: what counts as a mention besides the username.
type Match struct {
	BareNames     bool     `toml:"bare_names"`
	IgnoreSenders []string `toml:"ignore_senders"`
	Cooldown      Duration `toml:"cooldown"`
	Rules         []Rule   `toml:"rules"`
}

// Rule is one [[match.rules]] entry: a keyword or an RE2 regex.
type Rule struct {
	Name            string   `toml:"name"`
	Keyword         string   `toml:"keyword"`
	Regex           string   `toml:"regex"`
	CaseSensitive   bool     `toml:"case_sensitive"`
	Channels        []string `toml:"channels"`
	ExcludeChannels []string `toml:"exclude_channels"`

	// Pattern is Regex compiled by Validate ((?i) added unless
	// CaseSensitive); nil for keyword rules.
	Pattern *regexp.Regexp `toml:"-"`
}

// Store is [store], the SQLite outbox.
type Store struct {
	Path                string      `toml:"path"`
	Synchronous         Synchronous `toml:"synchronous"`
	OutboxCapPerChannel int         `toml:"outbox_cap_per_channel"`
	OutboxCapTotal      int         `toml:"outbox_cap_total"`
	HistoryDays         int         `toml:"history_days"`
	BusyTimeout         Duration    `toml:"busy_timeout"`
}

// Delivery is [delivery], shared by all sinks and the ingest path.
type Delivery struct {
	RetryInitial    Duration `toml:"retry_initial"`
	RetryMax        Duration `toml:"retry_max"`
	RetryBudget     Duration `toml:"retry_budget"`
	ShutdownTimeout Duration `toml:"shutdown_timeout"`
	BatchWindow     Duration `toml:"batch_window"`
	Buffer          int      `toml:"buffer"`
}

// Discord is [discord]. An empty WebhookURL disables the sink.
type Discord struct {
	WebhookURL       string   `toml:"webhook_url"`
	Username         string   `toml:"username"`
	Timeout          Duration `toml:"timeout"`
	FailureThreshold int      `toml:"failure_threshold"`
	RecoveryTimeout  Duration `toml:"recovery_timeout"`
}

// RemoteDB is [remote_db], Supabase or any PostgREST. An empty URL disables it.
type RemoteDB struct {
	URL              string   `toml:"url"`
	APIKey           string   `toml:"api_key"`
	Table            string   `toml:"table"`
	Timeout          Duration `toml:"timeout"`
	FailureThreshold int      `toml:"failure_threshold"`
	RecoveryTimeout  Duration `toml:"recovery_timeout"`
}

// Console is [console].
type Console struct {
	Enabled ConsoleMode `toml:"enabled"`
}

// HTTP is [http], the health, readiness, metrics and status listener.
type HTTP struct {
	Listen                string   `toml:"listen"`
	BasicAuthUser         string   `toml:"basic_auth_user"`
	BasicAuthPassword     string   `toml:"basic_auth_password"`
	ReadinessBreakerGrace Duration `toml:"readiness_breaker_grace"`
}

// Log is [log].
type Log struct {
	Level  LogLevel  `toml:"level"`
	Format LogFormat `toml:"format"`
}

// Default returns the built-in settings: every key at its Default* constant,
// no channels, no sinks, demo off. The shipped config.toml turns demo on.
func Default() *Config {
	return &Config{
		Kick: Kick{
			Transport:        TransportAuto,
			WSURL:            DefaultWSURL,
			APIURL:           DefaultAPIURL,
			RealtimeURL:      DefaultRealtimeURL,
			ConnectTimeout:   D(DefaultConnectTimeout),
			PingInterval:     D(DefaultPingInterval),
			PongTimeout:      D(DefaultPongTimeout),
			ResolveTimeout:   D(DefaultResolveTimeout),
			MaxFrameBytes:    DefaultMaxFrameBytes,
			SilenceAlarm:     D(DefaultSilenceAlarm),
			FailureThreshold: DefaultKickFailureThreshold,
			RecoveryTimeout:  D(DefaultKickRecoveryTimeout),
			Webhook: Webhook{
				Listen:       DefaultWebhookListen,
				Path:         DefaultWebhookPath,
				MaxSkew:      D(DefaultWebhookMaxSkew),
				MaxBodyBytes: DefaultWebhookMaxBodyBytes,
			},
		},
		Store: Store{
			Path:                DefaultStorePath,
			Synchronous:         DefaultSynchronous,
			OutboxCapPerChannel: DefaultOutboxCapPerChannel,
			OutboxCapTotal:      DefaultOutboxCapTotal,
			HistoryDays:         DefaultHistoryDays,
			BusyTimeout:         D(DefaultBusyTimeout),
		},
		Delivery: Delivery{
			RetryInitial:    D(DefaultRetryInitial),
			RetryMax:        D(DefaultRetryMax),
			RetryBudget:     D(DefaultRetryBudget),
			ShutdownTimeout: D(DefaultShutdownTimeout),
			BatchWindow:     D(DefaultBatchWindow),
			Buffer:          DefaultBuffer,
		},
		Discord: Discord{
			Timeout:          D(DefaultDiscordTimeout),
			FailureThreshold: DefaultDiscordFailureThreshold,
			RecoveryTimeout:  D(DefaultDiscordRecoveryTimeout),
		},
		RemoteDB: RemoteDB{
			Table:            DefaultRemoteDBTable,
			Timeout:          D(DefaultRemoteDBTimeout),
			FailureThreshold: DefaultRemoteDBFailureThreshold,
			RecoveryTimeout:  D(DefaultRemoteDBRecoveryTimeout),
		},
		Console: Console{Enabled: ConsoleAuto},
		HTTP: HTTP{
			Listen:                DefaultHTTPListen,
			ReadinessBreakerGrace: D(DefaultReadinessBreakerGrace),
		},
		Log: Log{Level: LevelInfo, Format: FormatText},
	}
}

// DemoMode reports whether the daemon should start the embedded fake Kick
// server: demo is on and no real channel is configured.
func (c *Config) DemoMode() bool {
	return c.Kick.Demo && len(c.Kick.Channels) == 0
}

// DiscordEnabled reports whether the Discord sink is configured.
func (c *Config) DiscordEnabled() bool { return c.Discord.WebhookURL != "" }

// RemoteDBEnabled reports whether the PostgREST sink is configured.
func (c *Config) RemoteDBEnabled() bool { return c.RemoteDB.URL != "" }

// ConsoleEnabled resolves console.enabled: "auto" means on when neither
// Discord nor the remote database is configured.
func (c *Config) ConsoleEnabled() bool {
	switch c.Console.Enabled {
	case ConsoleOn:
		return true
	case ConsoleOff:
		return false
	}
	return !c.DiscordEnabled() && !c.RemoteDBEnabled()
}

// Channels returns [[kick.channels]] as the sources take them.
func (c *Config) Channels() []pipeline.Channel {
	out := make([]pipeline.Channel, 0, len(c.Kick.Channels))
	for _, ch := range c.Kick.Channels {
		out = append(out, pipeline.Channel{Slug: ch.Slug, ChatroomID: ch.ChatroomID, ChannelID: ch.ChannelID})
	}
	return out
}

// Transport is kick.transport.
type Transport string

// The chat transports.
const (
	TransportAuto       Transport = "auto" // negotiate; fall back to Pusher
	TransportCentrifugo Transport = "centrifugo"
	TransportPusher     Transport = "pusher"
)

// Synchronous is store.synchronous, SQLite's PRAGMA synchronous.
type Synchronous string

// The synchronous modes offered.
const (
	SynchronousFull   Synchronous = "full"   // survives power loss
	SynchronousNormal Synchronous = "normal" // survives a crash; may lose the last commits on power loss
)

// LogLevel is log.level.
type LogLevel string

// The log levels.
const (
	LevelDebug LogLevel = "debug"
	LevelInfo  LogLevel = "info"
	LevelWarn  LogLevel = "warn"
	LevelError LogLevel = "error"
)

// Slog returns the slog level; unknown values (rejected by Validate) are Info.
func (l LogLevel) Slog() slog.Level {
	switch l {
	case LevelDebug:
		return slog.LevelDebug
	case LevelWarn:
		return slog.LevelWarn
	case LevelError:
		return slog.LevelError
	}
	return slog.LevelInfo
}

// LogFormat is log.format.
type LogFormat string

// The log formats.
const (
	FormatText LogFormat = "text"
	FormatJSON LogFormat = "json"
)

// ConsoleMode is console.enabled: "auto", "true" or "false". The TOML
// booleans true and false are accepted too.
type ConsoleMode string

// The console modes.
const (
	ConsoleAuto ConsoleMode = "auto" // on when no other sink is configured
	ConsoleOn   ConsoleMode = "true"
	ConsoleOff  ConsoleMode = "false"
)

// UnmarshalText accepts a TOML boolean (which go-toml hands over as text).
func (m *ConsoleMode) UnmarshalText(b []byte) error {
	*m = ConsoleMode(b)
	return nil
}

// Duration is a time.Duration written in TOML as a string such as "30s",
// "5m" or "1h30m".
type Duration struct{ time.Duration }

// D wraps a time.Duration.
func D(d time.Duration) Duration { return Duration{d} }

// UnmarshalText parses a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := parseDuration(string(b))
	if err != nil {
		return err
	}
	d.Duration = v
	return nil
}

// MarshalText writes the duration in its shortest form ("1m", not "1m0s").
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// String is the shortest form: "1m" rather than "1m0s", "0s" for zero.
func (d Duration) String() string {
	s := d.Duration.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

func parseDuration(s string) (time.Duration, error) {
	v, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("not a duration (write e.g. \"30s\", \"5m\", \"1h30m\")")
	}
	return v, nil
}
