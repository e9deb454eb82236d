package kickhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// API client defaults (reference §5.2).
const (
	// DefaultTokenURL is Kick's OAuth 2.1 token endpoint.
	DefaultTokenURL = "https://id.kick.com/oauth/token"
	// DefaultAPIURL is Kick's official public API.
	DefaultAPIURL = "https://api.kick.com/public/v1"
	// DefaultAPITimeout bounds one API call.
	DefaultAPITimeout = 15 * time.Second
	// DefaultAPIMaxBody bounds one API response; a subscription list of
	// thousands of items is a few hundred KiB.
	DefaultAPIMaxBody = 4 << 20
	// tokenEarly renews the app token this long before it expires.
	tokenEarly = time.Minute
	// maxSlugsPerLookup is how many slugs one channels lookup asks for.
	maxSlugsPerLookup = 50
)

// APIOptions configure an APIClient; zero fields take the defaults.
type APIOptions struct {
	ClientID     string
	ClientSecret string
	TokenURL     string // default DefaultTokenURL
	APIURL       string // default DefaultAPIURL
	HTTPClient   *http.Client
	Timeout      time.Duration
	MaxBodyBytes int64
	Now          func() time.Time
}

// APIClient calls Kick's public API with an app access token obtained by the
// client-credentials grant. Tokens and the client secret never appear in its
// errors.
type APIClient struct {
	o APIOptions
	c *http.Client

	mu      sync.Mutex
	token   string
	expires time.Time
}

// NewAPIClient returns an APIClient.
func NewAPIClient(o APIOptions) *APIClient {
	if o.TokenURL == "" {
		o.TokenURL = DefaultTokenURL
	}
	if o.APIURL == "" {
		o.APIURL = DefaultAPIURL
	}
	o.APIURL = strings.TrimRight(o.APIURL, "/")
	if o.Timeout <= 0 {
		o.Timeout = DefaultAPITimeout
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = DefaultAPIMaxBody
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	c := o.HTTPClient
	if c == nil {
		c = &http.Client{Timeout: o.Timeout}
	}
	return &APIClient{o: o, c: c}
}

// ErrNoCredentials is returned when client_id or client_secret is missing.
var ErrNoCredentials = errors.New("kick app credentials missing: set [kick.webhook] client_id and client_secret " +
	"(or KICKWATCH_KICK_CLIENT_ID / KICKWATCH_KICK_CLIENT_SECRET); create an app at https://kick.com/settings/developer")

// APIError is an unexpected answer from Kick's API or token endpoint.
type APIError struct {
	Op         string // "get app token", "list subscriptions", …
	Status     int
	Message    string // Kick's own message, redacted and cut short
	RetryAfter time.Duration
}

func (e *APIError) Error() string {
	var hint string
	switch {
	case e.Op == "get app token" && (e.Status == http.StatusBadRequest || e.Status == http.StatusUnauthorized):
		hint = ": Kick refused the app credentials; check client_id and client_secret"
	case e.Status == http.StatusUnauthorized:
		hint = ": the app token was refused"
	case e.Status == http.StatusForbidden:
		hint = ": the app lacks the events:subscribe scope or access to this API"
	case e.Status == http.StatusTooManyRequests:
		hint = ": rate limited by Kick, try again later"
		if e.RetryAfter > 0 {
			hint += " (in " + e.RetryAfter.String() + ")"
		}
	case e.Status >= 500:
		hint = ": Kick's API is failing, try again later"
	}
	s := fmt.Sprintf("%s: HTTP %d%s", e.Op, e.Status, hint)
	if e.Message != "" {
		s += " (Kick said: " + e.Message + ")"
	}
	return s
}

// redact removes secrets from s, makes it one printable line and cuts it short.
func redact(s string, secrets ...string) string {
	for _, secret := range secrets {
		if len(secret) >= 4 {
			s = strings.ReplaceAll(s, secret, "[redacted]")
		}
	}
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, "?"))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return strings.TrimSpace(s)
}

// kickMessage pulls a human message out of an error body ({"message": …},
// {"error": …} or {"error_description": …}), with secrets removed.
func kickMessage(body []byte, secrets ...string) string {
	var m struct {
		Message     any    `json:"message"`
		Error       any    `json:"error"`
		Description string `json:"error_description"`
	}
	if json.Unmarshal(body, &m) != nil {
		return ""
	}
	for _, v := range []any{m.Description, m.Message, m.Error} {
		if s, ok := v.(string); ok && s != "" {
			return redact(s, secrets...)
		}
	}
	return ""
}

// appToken returns a cached app access token, fetching a new one when needed.
func (c *APIClient) appToken(ctx context.Context) (string, error) {
	if c.o.ClientID == "" || c.o.ClientSecret == "" {
		return "", ErrNoCredentials
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.token != "" && c.o.Now().Before(c.expires) {
		return c.token, nil
	}
	form := url.Values{
		"grant_type":    {"client_credentials"},
		"client_id":     {c.o.ClientID},
		"client_secret": {c.o.ClientSecret},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.o.TokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", errors.New("get app token: invalid token URL")
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	status, hdr, body, err := c.send(req)
	if err != nil {
		return "", fmt.Errorf("get app token: %w", err)
	}
	if status != http.StatusOK {
		return "", &APIError{Op: "get app token", Status: status, Message: kickMessage(body, c.o.ClientSecret), RetryAfter: retryAfter(hdr)}
	}
	var tr struct {
		AccessToken string          `json:"access_token"`
		TokenType   string          `json:"token_type"`
		ExpiresIn   json.RawMessage `json:"expires_in"`
	}
	if err := json.Unmarshal(body, &tr); err != nil || tr.AccessToken == "" {
		return "", errors.New("get app token: response has no access_token")
	}
	c.token = tr.AccessToken
	c.expires = c.o.Now().Add(expiresIn(tr.ExpiresIn) - tokenEarly)
	return c.token, nil
}

// expiresIn reads expires_in, a number of seconds (the docs show it as a
// string); unknown means one hour.
func expiresIn(raw json.RawMessage) time.Duration {
	s := strings.Trim(string(raw), `"`)
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return time.Hour
	}
	d := time.Duration(min(n, 30*24*3600)) * time.Second
	return max(d, 2*tokenEarly)
}

// send does req and reads the answer within MaxBodyBytes. Transport errors
// come back without the URL (*url.Error would carry it).
func (c *APIClient) send(req *http.Request) (int, http.Header, []byte, error) {
	ctx, cancel := context.WithTimeout(req.Context(), c.o.Timeout)
	defer cancel()
	req = req.WithContext(ctx)
	resp, err := c.c.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, c.o.MaxBodyBytes+1))
	if err != nil {
		return 0, nil, nil, fmt.Errorf("read response: %w", err)
	}
	if int64(len(body)) > c.o.MaxBodyBytes {
		return 0, nil, nil, fmt.Errorf("response over %d bytes", c.o.MaxBodyBytes)
	}
	return resp.StatusCode, resp.Header, body, nil
}

// call does one API request and returns the body of a 2xx answer. With the
// app's credentials set it is authorised by the app token; a 401 then drops
// the cached token and is retried once with a new one. Without credentials
// only anonymous calls are possible (anon true), for the public key.
func (c *APIClient) call(ctx context.Context, op, method, path string, query url.Values, in any, anon bool) ([]byte, error) {
	var payload []byte
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, fmt.Errorf("%s: encode request: %w", op, err)
		}
		payload = b
	}
	for attempt := 0; ; attempt++ {
		var tok string
		if !anon || (c.o.ClientID != "" && c.o.ClientSecret != "") {
			t, err := c.appToken(ctx)
			if err != nil {
				return nil, err
			}
			tok = t
		}
		u := c.o.APIURL + path
		if len(query) > 0 {
			u += "?" + query.Encode()
		}
		var rd io.Reader
		if payload != nil {
			rd = bytes.NewReader(payload)
		}
		req, err := http.NewRequestWithContext(ctx, method, u, rd)
		if err != nil {
			return nil, fmt.Errorf("%s: invalid API URL", op)
		}
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		req.Header.Set("Accept", "application/json")
		if payload != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		status, hdr, body, err := c.send(req)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		if status == http.StatusUnauthorized && attempt == 0 && tok != "" {
			c.dropToken(tok)
			continue
		}
		if status < 200 || status > 299 {
			return nil, &APIError{Op: op, Status: status, Message: kickMessage(body, c.o.ClientSecret, tok), RetryAfter: retryAfter(hdr)}
		}
		return body, nil
	}
}

func (c *APIClient) dropToken(tok string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.token == tok {
		c.token = ""
	}
}

func retryAfter(h http.Header) time.Duration {
	if h == nil {
		return 0
	}
	n, err := strconv.Atoi(strings.TrimSpace(h.Get("Retry-After")))
	if err != nil || n <= 0 {
		return 0
	}
	return time.Duration(min(n, 86400)) * time.Second
}
