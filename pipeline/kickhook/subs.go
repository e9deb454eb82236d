package kickhook

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"kickwatch/pipeline/kick"
)

// maxIDsPerDelete is how many subscription ids one DELETE carries.
const maxIDsPerDelete = 50

// ItemResult is the outcome of subscribing one channel to one event.
type ItemResult struct {
	Slug              string
	BroadcasterUserID int64 // 0 when the slug was not found
	Event             string
	Version           int
	SubscriptionID    string // set on success
	Existing          bool   // the app was already subscribed; nothing was created
	Err               error  // nil on success; an *ItemError in plain words otherwise
}

// ItemError is why one channel was not subscribed, in plain words.
type ItemError struct {
	Slug    string
	Event   string
	Message string // Kick's item error, redacted
}

func (e *ItemError) Error() string {
	what := fmt.Sprintf("subscribe %q to %s", e.Slug, e.Event)
	m := strings.ToLower(e.Message)
	switch {
	case strings.Contains(m, "webhooks are not enabled"):
		return what + ": webhooks are not enabled for this Kick app; turn them on and set the webhook URL " +
			"at https://kick.com/settings/developer, then run subscribe again (Kick said: " + e.Message + ")"
	case e.Message == "":
		return what + ": Kick gave no subscription id and no reason"
	}
	return what + ": " + e.Message
}

// ErrChannelNotFound is the item error of a slug Kick has no channel for.
var ErrChannelNotFound = errors.New("no Kick channel with this slug")

// Subscription is one of the app's event subscriptions.
type Subscription struct {
	ID                string
	BroadcasterUserID int64
	Event             string
	Version           int
	Method            string
	CreatedAt         time.Time
	UpdatedAt         time.Time
}

// envelope is the official API's answer: {"data": …, "message": …}.
type envelope[T any] struct {
	Data    T      `json:"data"`
	Message string `json:"message"`
}

func decode[T any](op string, body []byte) (T, error) {
	var env envelope[T]
	if err := json.Unmarshal(body, &env); err != nil {
		var zero T
		return zero, fmt.Errorf("%s: decode response: %w", op, err)
	}
	return env.Data, nil
}

// Channels resolves slugs to broadcaster user ids with GET
// /channels?slug=…; slugs Kick does not know are absent from the map. Keys
// are lowercase.
func (c *APIClient) Channels(ctx context.Context, slugs []string) (map[string]int64, error) {
	ids := make(map[string]int64, len(slugs))
	for start := 0; start < len(slugs); start += maxSlugsPerLookup {
		q := url.Values{}
		for _, s := range slugs[start:min(start+maxSlugsPerLookup, len(slugs))] {
			q.Add("slug", strings.ToLower(s))
		}
		body, err := c.call(ctx, "look up channels", http.MethodGet, "/channels", q, nil, false)
		if err != nil {
			return nil, err
		}
		chans, err := decode[[]struct {
			BroadcasterUserID int64  `json:"broadcaster_user_id"`
			Slug              string `json:"slug"`
		}]("look up channels", body)
		if err != nil {
			return nil, err
		}
		for _, ch := range chans {
			if ch.BroadcasterUserID > 0 && ch.Slug != "" {
				ids[strings.ToLower(ch.Slug)] = ch.BroadcasterUserID
			}
		}
	}
	return ids, nil
}

// Subscribe subscribes the app to event (default chat.message.sent, version
// 1, delivered by webhook) for each channel slug, one result per slug in
// order. Channels the app is already subscribed to are reported as Existing,
// not subscribed twice (a second subscription means every message twice).
// Per-channel failures are in the results; the error is for failures of the
// whole call (credentials, scope, network).
func (c *APIClient) Subscribe(ctx context.Context, slugs []string, event string) ([]ItemResult, error) {
	if event == "" {
		event = EventChatMessageSent
	}
	for _, s := range slugs {
		if !kick.ValidSlug(s) {
			return nil, fmt.Errorf("subscribe %q: %w", s, kick.ErrBadSlug)
		}
	}
	ids, err := c.Channels(ctx, slugs)
	if err != nil {
		return nil, err
	}
	existing, err := c.List(ctx)
	if err != nil {
		return nil, err
	}
	have := map[int64]string{}
	for _, s := range existing {
		if s.Event == event && (s.Method == "" || s.Method == "webhook") {
			have[s.BroadcasterUserID] = s.ID
		}
	}
	out := make([]ItemResult, 0, len(slugs))
	for _, slug := range slugs {
		slug = strings.ToLower(slug)
		r := ItemResult{Slug: slug, Event: event, Version: 1}
		id, ok := ids[slug]
		if !ok {
			r.Err = fmt.Errorf("subscribe %q: %w", slug, ErrChannelNotFound)
			out = append(out, r)
			continue
		}
		r.BroadcasterUserID = id
		if sub := have[id]; sub != "" {
			r.SubscriptionID, r.Existing = sub, true
			out = append(out, r)
			continue
		}
		items, err := c.subscribeOne(ctx, slug, id, event)
		if err != nil {
			if wholeCall(ctx, err) {
				return out, err
			}
			r.Err = err
			out = append(out, r)
			continue
		}
		out = append(out, items...)
	}
	return out, nil
}

// wholeCall reports whether err would be the same for every channel.
func wholeCall(ctx context.Context, err error) bool {
	var ae *APIError
	if errors.As(err, &ae) && (ae.Status == http.StatusUnauthorized || ae.Status == http.StatusForbidden ||
		ae.Status == http.StatusTooManyRequests || ae.Op == "get app token") {
		return true
	}
	return errors.Is(err, ErrNoCredentials) || ctx.Err() != nil
}

type subscribeRequest struct {
	BroadcasterUserID int64            `json:"broadcaster_user_id"`
	Events            []subscribeEvent `json:"events"`
	Method            string           `json:"method"`
}

type subscribeEvent struct {
	Name    string `json:"name"`
	Version int    `json:"version"`
}

func (c *APIClient) subscribeOne(ctx context.Context, slug string, id int64, event string) ([]ItemResult, error) {
	const op = "subscribe"
	req := subscribeRequest{
		BroadcasterUserID: id,
		Events:            []subscribeEvent{{Name: event, Version: 1}},
		Method:            "webhook",
	}
	body, err := c.call(ctx, op, http.MethodPost, "/events/subscriptions", nil, req, false)
	if err != nil {
		return nil, err
	}
	items, err := decode[[]struct {
		Name           string  `json:"name"`
		Version        int     `json:"version"`
		SubscriptionID *string `json:"subscription_id"`
		Error          *string `json:"error"`
	}](op, body)
	if err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return nil, &ItemError{Slug: slug, Event: event}
	}
	out := make([]ItemResult, 0, len(items))
	for _, it := range items {
		r := ItemResult{Slug: slug, BroadcasterUserID: id, Event: it.Name, Version: it.Version}
		if r.Event == "" {
			r.Event = event
		}
		switch {
		case it.Error != nil && *it.Error != "":
			r.Err = &ItemError{Slug: slug, Event: r.Event, Message: redact(*it.Error, c.o.ClientSecret)}
		case it.SubscriptionID == nil || *it.SubscriptionID == "":
			r.Err = &ItemError{Slug: slug, Event: r.Event}
		default:
			r.SubscriptionID = *it.SubscriptionID
		}
		out = append(out, r)
	}
	return out, nil
}

// List returns the app's event subscriptions.
func (c *APIClient) List(ctx context.Context) ([]Subscription, error) {
	const op = "list subscriptions"
	body, err := c.call(ctx, op, http.MethodGet, "/events/subscriptions", nil, nil, false)
	if err != nil {
		return nil, err
	}
	items, err := decode[[]struct {
		ID                string `json:"id"`
		BroadcasterUserID int64  `json:"broadcaster_user_id"`
		Event             string `json:"event"`
		Version           int    `json:"version"`
		Method            string `json:"method"`
		CreatedAt         string `json:"created_at"`
		UpdatedAt         string `json:"updated_at"`
	}](op, body)
	if err != nil {
		return nil, err
	}
	out := make([]Subscription, 0, len(items))
	for _, it := range items {
		s := Subscription{ID: it.ID, BroadcasterUserID: it.BroadcasterUserID, Event: it.Event, Version: it.Version, Method: it.Method}
		s.CreatedAt, _ = time.Parse(time.RFC3339Nano, it.CreatedAt)
		s.UpdatedAt, _ = time.Parse(time.RFC3339Nano, it.UpdatedAt)
		out = append(out, s)
	}
	return out, nil
}

// Unsubscribe deletes the app's subscriptions with the given ids.
func (c *APIClient) Unsubscribe(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return errors.New("unsubscribe: no subscription ids")
	}
	for start := 0; start < len(ids); start += maxIDsPerDelete {
		q := url.Values{}
		for _, id := range ids[start:min(start+maxIDsPerDelete, len(ids))] {
			if id = strings.TrimSpace(id); id == "" || len(id) > 128 {
				return fmt.Errorf("unsubscribe: invalid subscription id %.40q", id)
			}
			q.Add("id", id)
		}
		if _, err := c.call(ctx, "unsubscribe", http.MethodDelete, "/events/subscriptions", q, nil, false); err != nil {
			return err
		}
	}
	return nil
}

// PublicKey fetches Kick's current webhook signing key (GET /public-key), for
// `check --probe` to compare with the configured one (rsa.PublicKey.Equal).
// It uses the app token when credentials are set and goes anonymous
// otherwise.
func (c *APIClient) PublicKey(ctx context.Context) (*rsa.PublicKey, []byte, error) {
	const op = "get public key"
	body, err := c.call(ctx, op, http.MethodGet, "/public-key", nil, nil, true)
	if err != nil {
		return nil, nil, err
	}
	data, err := decode[struct {
		PublicKey string `json:"public_key"`
	}](op, body)
	if err != nil {
		return nil, nil, err
	}
	pemBytes := []byte(data.PublicKey)
	k, err := ParsePublicKey(pemBytes)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", op, err)
	}
	return k, pemBytes, nil
}
