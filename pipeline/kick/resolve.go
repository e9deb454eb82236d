package kick

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"kickwatch/pipeline"
)

// Resolver defaults.
const (
	// DefaultAPIURL is Kick's internal website API (reference §5.1).
	DefaultAPIURL = "https://kick.com/api/v2"
	// DefaultResolveTimeout bounds one lookup.
	DefaultResolveTimeout = 10 * time.Second
	// DefaultResolveMaxBody bounds the channel object; real ones are ~10 KiB.
	DefaultResolveMaxBody = 1 << 20
	// DefaultUserAgent is a desktop browser's; Kick's API refuses obvious bots even more eagerly.
	DefaultUserAgent = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/128.0.0.0 Safari/537.36"
)

// ErrChannelNotFound is returned when Kick has no channel with the slug.
var ErrChannelNotFound = errors.New("channel not found")

// ErrBadSlug is returned for a slug that cannot be a Kick channel.
var ErrBadSlug = errors.New("invalid channel slug (letters, digits, - and _ only)")

// BlockedError is Kick's API answering with a Cloudflare challenge instead of
// the channel: a plain HTTP client cannot pass it, the user has to give the
// chatroom id in the config.
type BlockedError struct {
	Slug   string
	Status int
}

func (e *BlockedError) Error() string {
	return fmt.Sprintf("resolve kick channel %q: blocked by Cloudflare (HTTP %d challenge page); "+
		"set chatroom_id for this channel in the config: open https://kick.com/api/v2/channels/%s in a browser "+
		`and copy the number after "chatroom":{"id":`, e.Slug, e.Status, e.Slug)
}

// StatusError is any other unexpected HTTP answer.
type StatusError struct {
	Slug   string
	Status int
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("resolve kick channel %q: unexpected HTTP status %d", e.Slug, e.Status)
}

// ResolverOptions configure a Resolver; zero fields take the defaults.
type ResolverOptions struct {
	APIURL       string // e.g. https://kick.com/api/v2
	UserAgent    string
	Timeout      time.Duration
	MaxBodyBytes int64
	HTTPClient   *http.Client // nil: a client with Timeout
}

// Resolver turns channel slugs into chatroom and channel ids.
type Resolver struct {
	o ResolverOptions
	c *http.Client
}

// NewResolver returns a Resolver.
func NewResolver(o ResolverOptions) *Resolver {
	if o.APIURL == "" {
		o.APIURL = DefaultAPIURL
	}
	o.APIURL = strings.TrimRight(o.APIURL, "/")
	if o.UserAgent == "" {
		o.UserAgent = DefaultUserAgent
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultResolveTimeout
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = DefaultResolveMaxBody
	}
	c := o.HTTPClient
	if c == nil {
		c = &http.Client{Timeout: o.Timeout}
	}
	return &Resolver{o: o, c: c}
}

// ValidSlug reports whether slug is made of Kick's slug characters.
func ValidSlug(slug string) bool {
	if slug == "" || len(slug) > 64 {
		return false
	}
	for i := 0; i < len(slug); i++ {
		c := slug[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

type channelResponse struct {
	ID       *int64 `json:"id"`
	Slug     string `json:"slug"`
	Chatroom *struct {
		ID *int64 `json:"id"`
	} `json:"chatroom"`
}

// Resolve looks slug up: GET {APIURL}/channels/{slug} → top-level id (the
// channel id) and chatroom.id.
func (r *Resolver) Resolve(ctx context.Context, slug string) (pipeline.Channel, error) {
	if !ValidSlug(slug) {
		return pipeline.Channel{}, fmt.Errorf("resolve kick channel %q: %w", slug, ErrBadSlug)
	}
	slug = strings.ToLower(slug)
	ctx, cancel := context.WithTimeout(ctx, r.o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.o.APIURL+"/channels/"+slug, nil)
	if err != nil {
		return pipeline.Channel{}, fmt.Errorf("resolve kick channel %q: %w", slug, err)
	}
	req.Header.Set("User-Agent", r.o.UserAgent)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Accept-Language", "en-US,en;q=0.9")
	resp, err := r.c.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return pipeline.Channel{}, fmt.Errorf("resolve kick channel %q: %w", slug, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, r.o.MaxBodyBytes+1))
	if err != nil {
		return pipeline.Channel{}, fmt.Errorf("resolve kick channel %q: read body: %w", slug, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if isChallenge(resp, body) {
		return pipeline.Channel{}, &BlockedError{Slug: slug, Status: resp.StatusCode}
	}
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return pipeline.Channel{}, fmt.Errorf("resolve kick channel %q: %w", slug, ErrChannelNotFound)
	case resp.StatusCode != http.StatusOK:
		return pipeline.Channel{}, &StatusError{Slug: slug, Status: resp.StatusCode}
	}
	if int64(len(body)) > r.o.MaxBodyBytes {
		return pipeline.Channel{}, fmt.Errorf("resolve kick channel %q: response over %d bytes", slug, r.o.MaxBodyBytes)
	}
	var cr channelResponse
	if err := json.Unmarshal(body, &cr); err != nil {
		return pipeline.Channel{}, fmt.Errorf("resolve kick channel %q: decode response: %w", slug, err)
	}
	if cr.Chatroom == nil || cr.Chatroom.ID == nil || *cr.Chatroom.ID <= 0 {
		return pipeline.Channel{}, fmt.Errorf("resolve kick channel %q: response has no chatroom.id", slug)
	}
	ch := pipeline.Channel{Slug: slug, ChatroomID: *cr.Chatroom.ID}
	if cr.ID != nil && *cr.ID > 0 {
		ch.ChannelID = *cr.ID
	}
	return ch, nil
}

// isChallenge recognises Cloudflare's bot challenge (reference §5.1).
func isChallenge(resp *http.Response, body []byte) bool {
	if strings.EqualFold(resp.Header.Get("Cf-Mitigated"), "challenge") {
		return true
	}
	if resp.StatusCode != http.StatusForbidden && resp.StatusCode != http.StatusServiceUnavailable {
		return false
	}
	if resp.StatusCode == http.StatusForbidden {
		return true // Kick's API answers plain clients 403 only through Cloudflare
	}
	return bytes.Contains(body, []byte("Just a moment...")) || bytes.Contains(body, []byte("challenge-platform"))
}
