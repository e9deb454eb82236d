package config

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
)

// MaxSecretFileBytes bounds a *_FILE secret; real ones are under 1 KiB.
const MaxSecretFileBytes = 64 << 10

// secret is a key that may hold a credential and may be set from the
// environment: ENV directly, or ENV_FILE naming a file that holds it.
type secret struct {
	key    string
	env    string
	ptr    *string
	secret bool // false for settings that are merely environment-settable
}

func (c *Config) secrets() []secret {
	return []secret{
		{"discord.webhook_url", "KICKWATCH_DISCORD_WEBHOOK_URL", &c.Discord.WebhookURL, true},
		{"remote_db.url", "KICKWATCH_REMOTE_DB_URL", &c.RemoteDB.URL, false},
		{"remote_db.api_key", "KICKWATCH_REMOTE_DB_API_KEY", &c.RemoteDB.APIKey, true},
		{"kick.webhook.client_id", "KICKWATCH_KICK_CLIENT_ID", &c.Kick.Webhook.ClientID, false},
		{"kick.webhook.client_secret", "KICKWATCH_KICK_CLIENT_SECRET", &c.Kick.Webhook.ClientSecret, true},
		{"http.basic_auth_password", "KICKWATCH_HTTP_PASSWORD", &c.HTTP.BasicAuthPassword, true},
	}
}

// isSecretKey reports whether key holds a credential whose value must not
// be shown.
func isSecretKey(key string) bool {
	for _, s := range Default().secrets() {
		if s.secret && s.key == key {
			return true
		}
	}
	return false
}

// EnvVars lists the environment variables ApplyEnv reads, each also with a
// _FILE variant, mapped to the key they set.
func EnvVars() map[string]string {
	out := map[string]string{}
	for _, s := range Default().secrets() {
		out[s.env] = s.key
	}
	return out
}

// ApplyEnv overrides secrets from the environment. For each variable V
// (see EnvVars), V itself wins; otherwise V_FILE names a file whose content,
// without its trailing newline, is the value (systemd LoadCredential, Docker
// secrets). Empty variables count as unset. getenv nil means os.Getenv.
// Errors name the variable and the file, never the content.
func (c *Config) ApplyEnv(getenv func(string) string) ([]Warning, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	var warns []Warning
	var errs Errors
	for _, s := range c.secrets() {
		direct, file := getenv(s.env), getenv(s.env+"_FILE")
		switch {
		case direct != "":
			if file != "" {
				warns = append(warns, Warning{s.key, fmt.Sprintf("both %s and %s_FILE are set; using %s", s.env, s.env, s.env)})
			}
			c.setFromEnv(s, direct, s.env)
		case file != "":
			v, err := readSecretFile(file)
			if err != nil {
				errs = append(errs, &Error{Env: s.env + "_FILE", Key: s.key, Msg: err.Error()})
				continue
			}
			c.setFromEnv(s, v, s.env+"_FILE")
		}
	}
	return warns, errs.err()
}

func (c *Config) setFromEnv(s secret, v, env string) {
	*s.ptr = v
	if c.origins == nil {
		c.origins = map[string]string{}
	}
	c.origins[s.key] = env
}

// readSecretFile reads a small secret file and trims its trailing newline.
func readSecretFile(name string) (string, error) {
	b, err := readLimited(name, MaxSecretFileBytes)
	if err != nil {
		return "", err
	}
	v := strings.TrimRight(string(b), "\r\n")
	if v == "" {
		return "", fmt.Errorf("file %s is empty", name)
	}
	return v, nil
}

// readLimited reads a regular file of at most limit bytes. Errors name the
// file but never its content.
func readLimited(name string, limit int64) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", name, pathErr(err))
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("stat %s: %w", name, pathErr(err))
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", name)
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, pathErr(err))
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s is larger than the %d-byte limit", name, limit)
	}
	return b, nil
}

// pathErr drops the path an *fs.PathError repeats, keeping the cause.
func pathErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
