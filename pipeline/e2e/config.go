package e2e

import (
	"fmt"
	"os"
	"time"

	"github.com/pelletier/go-toml/v2"
)

// Channel is one watched channel; its chatroom id is given so the daemon
// needs no lookup.
type Channel struct {
	Slug       string
	ChatroomID int64
}

// Settings are the daemon's config for a run. Zero values take the defaults
// noted on each field (chosen so a test runs in seconds); a field left at its
// zero value with no default here keeps kickwatch's own default.
type Settings struct {
	Username string    // kick.username; default "e2e_watcher"
	Channels []Channel // kick.channels
	KickURL  string    // kick.ws_url (kickfake socket URL)

	DiscordURL     string // discord.webhook_url; "" disables the sink
	DiscordTimeout time.Duration

	RemoteDBURL     string // remote_db.url; "" disables the sink
	RemoteDBKey     string // remote_db.api_key
	RemoteDBTable   string // remote_db.table; default kickwatch's
	RemoteDBTimeout time.Duration

	// FailureThreshold and RecoveryTimeout set both sinks' breakers
	// (defaults 3 and 1s).
	FailureThreshold int
	RecoveryTimeout  time.Duration

	StorePath     string // store.path (required)
	CapPerChannel int    // store.outbox_cap_per_channel; default kickwatch's
	CapTotal      int    // store.outbox_cap_total; default max(kickwatch's, CapPerChannel)
	Synchronous   string // store.synchronous; default "full"

	RetryInitial    time.Duration // default 100ms
	RetryMax        time.Duration // default 1s
	ShutdownTimeout time.Duration // default 5s
	BatchWindow     time.Duration // default kickwatch's
	Buffer          int           // delivery.buffer; default kickwatch's

	HTTPListen string // http.listen; default "127.0.0.1:0"
	// HTTPUser and HTTPPassword set basic auth on the listener (the password
	// may come from KICKWATCH_HTTP_PASSWORD in Daemon.Env instead).
	HTTPUser, HTTPPassword string
	LogLevel               string // log.level; default "info"
	Console                string // console.enabled; default "false"

	// Raw, when set, is written instead of the rendered config (a broken
	// config for `kickwatch check`).
	Raw string
}

func durationOr(d, def time.Duration) string {
	if d <= 0 {
		d = def
	}
	return d.String()
}

// TOML renders the settings as a kickwatch config file.
func (s Settings) TOML() ([]byte, error) {
	if s.Raw != "" {
		return []byte(s.Raw), nil
	}
	if s.StorePath == "" {
		return nil, fmt.Errorf("render config: StorePath is required")
	}
	user := s.Username
	if user == "" {
		user = "e2e_watcher"
	}
	chans := make([]map[string]any, 0, len(s.Channels))
	for _, c := range s.Channels {
		chans = append(chans, map[string]any{"slug": c.Slug, "chatroom_id": c.ChatroomID})
	}
	kick := map[string]any{
		"username":        user,
		"demo":            false,
		"transport":       "pusher",
		"ws_url":          s.KickURL,
		"connect_timeout": "5s",
		"channels":        chans,
	}
	thr := s.FailureThreshold
	if thr <= 0 {
		thr = 3
	}
	recovery := durationOr(s.RecoveryTimeout, time.Second)
	store := map[string]any{"path": s.StorePath, "synchronous": "full"}
	if s.Synchronous != "" {
		store["synchronous"] = s.Synchronous
	}
	if s.CapPerChannel > 0 {
		store["outbox_cap_per_channel"] = s.CapPerChannel
		store["outbox_cap_total"] = max(s.CapTotal, s.CapPerChannel, 50000)
	}
	if s.CapTotal > 0 {
		store["outbox_cap_total"] = s.CapTotal
	}
	delivery := map[string]any{
		"retry_initial":    durationOr(s.RetryInitial, 100*time.Millisecond),
		"retry_max":        durationOr(s.RetryMax, time.Second),
		"shutdown_timeout": durationOr(s.ShutdownTimeout, 5*time.Second),
	}
	if s.BatchWindow > 0 {
		delivery["batch_window"] = s.BatchWindow.String()
	}
	if s.Buffer > 0 {
		delivery["buffer"] = s.Buffer
	}
	discord := map[string]any{
		"webhook_url":       s.DiscordURL,
		"timeout":           durationOr(s.DiscordTimeout, 5*time.Second),
		"failure_threshold": thr,
		"recovery_timeout":  recovery,
	}
	remote := map[string]any{
		"url":               s.RemoteDBURL,
		"api_key":           s.RemoteDBKey,
		"timeout":           durationOr(s.RemoteDBTimeout, 5*time.Second),
		"failure_threshold": thr,
		"recovery_timeout":  recovery,
	}
	if s.RemoteDBTable != "" {
		remote["table"] = s.RemoteDBTable
	}
	listen := s.HTTPListen
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	level := s.LogLevel
	if level == "" {
		level = "info"
	}
	console := s.Console
	if console == "" {
		console = "false"
	}
	httpTable := map[string]any{"listen": listen}
	if s.HTTPUser != "" {
		httpTable["basic_auth_user"] = s.HTTPUser
	}
	if s.HTTPPassword != "" {
		httpTable["basic_auth_password"] = s.HTTPPassword
	}
	doc := map[string]any{
		"kick":      kick,
		"store":     store,
		"delivery":  delivery,
		"discord":   discord,
		"remote_db": remote,
		"console":   map[string]any{"enabled": console},
		"http":      httpTable,
		"log":       map[string]any{"level": level, "format": "json"},
	}
	b, err := toml.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("render config: %w", err)
	}
	return b, nil
}

// WriteConfig writes the settings to path, readable by the owner only (it
// may hold secrets).
func WriteConfig(path string, s Settings) error {
	b, err := s.TOML()
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	return nil
}
