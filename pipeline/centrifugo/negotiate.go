package centrifugo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Defaults of the realtime API (reference §1, §2).
const (
	// DefaultRealtimeURL is the base of Kick's realtime negotiation and token endpoints.
	DefaultRealtimeURL = "https://web.kick.com/api/v1/realtime"
	// KickOrigin is the only Origin Kick's realtime server accepts (besides none).
	KickOrigin = "https://kick.com"
	// DefaultUserAgent is a current desktop browser's; Kick's edge treats
	// obviously scripted clients worse.
	DefaultUserAgent = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36"
	// DefaultAPITimeout bounds one negotiation or token call.
	DefaultAPITimeout = 10 * time.Second
	// DefaultMaxBodyBytes bounds a negotiation or token response; real ones are < 2 KiB.
	DefaultMaxBodyBytes = 64 << 10
	maxRetryAfter       = time.Hour
)

// The providers a negotiation may offer.
const (
	ProviderCentrifugo = "centrifugo"
	ProviderPusher     = "pusher"
)

// Errors a realtime API call may wrap (through *HTTPError).
var (
	ErrCountryBlocked = errors.New("kick refuses connections from this country (HTTP 423)")
	ErrChallenge      = errors.New("kick answered with a Cloudflare challenge page (HTTP 403)")
	ErrRateLimited    = errors.New("kick rate limited the realtime api (HTTP 429)")
	ErrNoProvider     = errors.New("no usable chat provider offered")
)

// HTTPError is a realtime API call answered with a non-2xx status.
type HTTPError struct {
	Op         string        // "negotiate" or "token"
	Status     int           // HTTP status code
	RetryAfter time.Duration // from Retry-After, 0 when absent
	HTML       bool          // the body was an HTML page (Cloudflare)
}

// Error names the operation, the status and what it means.
func (e *HTTPError) Error() string {
	switch {
	case e.Status == http.StatusLocked:
		return e.Op + ": HTTP 423: Kick blocks this country; use a VPN, or kick.transport = \"pusher\""
	case e.Status == http.StatusForbidden && e.HTML:
		return e.Op + ": HTTP 403: Cloudflare challenge page; Kick refused this client for now, retrying later"
	case e.Status == http.StatusTooManyRequests:
		return e.Op + ": HTTP 429: rate limited by Kick, retrying after " + e.RetryAfter.String()
	}
	return e.Op + ": HTTP " + strconv.Itoa(e.Status)
}

// Unwrap returns the sentinel for the status (ErrCountryBlocked,
// ErrChallenge, ErrRateLimited) or nil.
func (e *HTTPError) Unwrap() error {
	switch {
	case e.Status == http.StatusLocked:
		return ErrCountryBlocked
	case e.Status == http.StatusForbidden && e.HTML:
		return ErrChallenge
	case e.Status == http.StatusTooManyRequests:
		return ErrRateLimited
	}
	return nil
}

// Refused reports whether Kick refused this client (403, 423): retrying at
// once will not help.
func (e *HTTPError) Refused() bool {
	return e.Status == http.StatusForbidden || e.Status == http.StatusLocked
}

// APIConfig configures an API. The zero value talks to Kick.
type APIConfig struct {
	BaseURL      string       // default DefaultRealtimeURL; https unless URLPolicy.AllowLoopback and a loopback host
	HTTPClient   *http.Client // default: a client with DefaultAPITimeout
	UserAgent    string       // default DefaultUserAgent
	URLPolicy    URLPolicy    // validates the WebSocket URLs offered
	MaxBodyBytes int64        // default DefaultMaxBodyBytes
}

// API calls Kick's realtime negotiation and guest token endpoints.
type API struct {
	base   string
	hc     *http.Client
	ua     string
	policy URLPolicy
	max    int64
}

// NewAPI checks cfg and returns an API.
func NewAPI(cfg APIConfig) (*API, error) {
	a := &API{base: cfg.BaseURL, hc: cfg.HTTPClient, ua: cfg.UserAgent, policy: cfg.URLPolicy, max: cfg.MaxBodyBytes}
	if a.base == "" {
		a.base = DefaultRealtimeURL
	}
	a.base = strings.TrimRight(a.base, "/")
	u, err := url.Parse(a.base)
	if err != nil || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Host == "" {
		return nil, errors.New("realtime api url: must be an absolute http(s) url without credentials or query")
	}
	if u.Scheme != "https" && !(u.Scheme == "http" && cfg.URLPolicy.AllowLoopback && isLoopback(u.Hostname())) {
		return nil, errors.New("realtime api url: scheme must be https")
	}
	if a.hc == nil {
		a.hc = &http.Client{Timeout: DefaultAPITimeout}
	}
	if a.ua == "" {
		a.ua = DefaultUserAgent
	}
	if a.max <= 0 {
		a.max = DefaultMaxBodyBytes
	}
	return a, nil
}

// Selection is the outcome of a negotiation: which provider carries chat and
// where to connect.
type Selection struct {
	Provider      string // ProviderCentrifugo or ProviderPusher
	URL           string // Centrifugo: the validated WebSocket URL
	PusherKey     string // Pusher: the app key offered, may be empty
	PusherCluster string // Pusher: the cluster offered, may be empty
	ClientID      string // the client id the negotiation used
}

type connectionRequest struct {
	Client struct {
		ID   string `json:"id"`
		Type string `json:"type"`
	} `json:"client"`
	Capabilities struct {
		AcceptedProviders []struct {
			Provider string `json:"provider"`
		} `json:"accepted_providers"`
	} `json:"capabilities"`
}

type connectionResponse struct {
	Data struct {
		Connections []struct {
			Provider    string          `json:"provider"`
			Credentials json.RawMessage `json:"credentials"`
		} `json:"connections"`
	} `json:"data"`
}

// Connection is one negotiation call with the given client id (reference
// §1): POST {base}/channels/{channelID}/chat/connection when channelID > 0
// (the channel id, not the chatroom id), POST {base}/connection otherwise.
// It accepts providers (default both) and returns the first connection
// offered whose provider is among them and whose credentials are valid.
func (a *API) Connection(ctx context.Context, channelID int64, clientID string, providers ...string) (Selection, error) {
	if len(providers) == 0 {
		providers = []string{ProviderPusher, ProviderCentrifugo}
	}
	var req connectionRequest
	req.Client.ID, req.Client.Type = clientID, "web"
	for _, p := range providers {
		req.Capabilities.AcceptedProviders = append(req.Capabilities.AcceptedProviders, struct {
			Provider string `json:"provider"`
		}{p})
	}
	path := "/connection"
	if channelID > 0 {
		path = "/channels/" + strconv.FormatInt(channelID, 10) + "/chat/connection"
	}
	body, err := a.post(ctx, "negotiate", path, req)
	if err != nil {
		return Selection{}, err
	}
	sel, err := a.parseConnections(body, providers)
	if err != nil {
		return Selection{}, fmt.Errorf("negotiate: %w", err)
	}
	sel.ClientID = clientID
	return sel, nil
}

// parseConnections picks the first usable connection of a negotiation
// response among providers.
func (a *API) parseConnections(body []byte, providers []string) (Selection, error) {
	var resp connectionResponse
	if err := json.Unmarshal(body, &resp); err != nil {
		return Selection{}, errors.New("response is not the expected json")
	}
	var firstErr error
	var offered []string
	for _, c := range resp.Data.Connections {
		if len(offered) < 8 {
			offered = append(offered, strconv.Quote(truncate(c.Provider, 32)))
		}
		if !slices.Contains(providers, c.Provider) {
			continue
		}
		sel, err := a.selection(c.Provider, c.Credentials)
		if err == nil {
			return sel, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	switch {
	case firstErr != nil:
		return Selection{}, fmt.Errorf("%w: %w", ErrNoProvider, firstErr)
	case len(offered) == 0:
		return Selection{}, fmt.Errorf("%w: no connections offered", ErrNoProvider)
	}
	return Selection{}, fmt.Errorf("%w: offered %s", ErrNoProvider, strings.Join(offered, ", "))
}

func (a *API) selection(provider string, creds json.RawMessage) (Selection, error) {
	var c struct {
		URL     string `json:"url"`
		AppKey  string `json:"app_key"`
		Cluster string `json:"cluster"`
	}
	switch provider {
	case ProviderCentrifugo:
		if err := json.Unmarshal(creds, &c); err != nil {
			return Selection{}, errors.New("centrifugo credentials are not the expected json")
		}
		if _, err := a.policy.Validate(c.URL); err != nil {
			return Selection{}, err
		}
		return Selection{Provider: ProviderCentrifugo, URL: c.URL}, nil
	case ProviderPusher:
		// The app connects to its configured ws_url; the key is informative.
		_ = json.Unmarshal(creds, &c)
		if !token(c.AppKey, 64) {
			c.AppKey = ""
		}
		if !token(c.Cluster, 32) {
			c.Cluster = ""
		}
		return Selection{Provider: ProviderPusher, PusherKey: c.AppKey, PusherCluster: c.Cluster}, nil
	}
	return Selection{}, fmt.Errorf("provider %q not implemented", truncate(provider, 32))
}

// Token fetches a guest connection token for clientID (reference §2). The
// token is a secret: it never appears in errors.
func (a *API) Token(ctx context.Context, clientID string) (string, error) {
	body, err := a.post(ctx, "token", "/auth/connection", map[string]string{"client_id": clientID})
	if err != nil {
		return "", err
	}
	var resp struct {
		Data struct {
			Token string `json:"token"`
		} `json:"data"`
		Token string `json:"token"`
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		return "", errors.New("token: response is not the expected json")
	}
	tok := resp.Data.Token
	if tok == "" {
		tok = resp.Token
	}
	if tok == "" {
		return "", errors.New("token: response has no data.token")
	}
	if !jwtChars(tok) {
		return "", errors.New("token: malformed token in response")
	}
	return tok, nil
}

// post sends a JSON POST with the headers Kick's web client sends and
// returns the bounded 2xx body.
func (a *API) post(ctx context.Context, op, path string, v any) ([]byte, error) {
	reqBody, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("%s: encode request: %w", op, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.base+path, bytes.NewReader(reqBody))
	if err != nil {
		return nil, fmt.Errorf("%s: build request: %w", op, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", a.ua)
	req.Header.Set("Origin", KickOrigin)
	req.Header.Set("Referer", KickOrigin+"/")
	req.Header.Set("x-app-platform", "web")
	resp, err := a.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, stripURL(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, a.max+1))
	if err != nil {
		return nil, fmt.Errorf("%s: read response: %w", op, stripURL(err))
	}
	if int64(len(body)) > a.max {
		return nil, fmt.Errorf("%s: response larger than %d bytes", op, a.max)
	}
	html := isHTML(resp.Header.Get("Content-Type"), body)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, &HTTPError{Op: op, Status: resp.StatusCode, HTML: html,
			RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())}
	}
	if html {
		return nil, fmt.Errorf("%s: HTTP %d with an HTML page instead of json", op, resp.StatusCode)
	}
	return body, nil
}

// stripURL drops the request URL net/http puts in its errors.
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func isHTML(contentType string, body []byte) bool {
	if strings.Contains(strings.ToLower(contentType), "html") {
		return true
	}
	b := bytes.TrimLeft(body, " \t\r\n")
	return len(b) > 0 && b[0] == '<'
}

func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	var d time.Duration
	if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		if n > int64(maxRetryAfter/time.Second) {
			return maxRetryAfter
		}
		d = time.Duration(n) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), maxRetryAfter)
}

// token accepts short [A-Za-z0-9_-] identifiers (Pusher keys, clusters).
func token(s string, maxLen int) bool {
	if s == "" || len(s) > maxLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// jwtChars accepts what a JWT (or a plain opaque token) is made of.
func jwtChars(s string) bool {
	if len(s) > 8192 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '=' || c == '+' || c == '/') {
			return false
		}
	}
	return true
}

// truncate cuts s to n bytes and drops control characters, for server
// strings that end up in errors and logs.
func truncate(s string, n int) string {
	if len(s) > n {
		for n > 0 && !utf8.RuneStart(s[n]) {
			n-- // do not split a character
		}
		s = s[:n]
	}
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return -1
		}
		return r
	}, s)
}
