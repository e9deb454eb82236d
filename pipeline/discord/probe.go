package discord

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

// ProbeResult is what Discord says about the configured webhook.
type ProbeResult struct {
	Name      string // the webhook's name in Discord
	ChannelID string // the channel it posts to
}

// Probe checks the webhook without posting anything: a GET on the webhook URL
// returns the webhook object (reference A1). A deleted webhook (404, 10015)
// or a wrong token (401, 50027) is a *StatusError naming the fix. Its errors
// never contain the URL or token.
func (s *Sink) Probe(ctx context.Context) (ProbeResult, error) {
	s.mu.Lock()
	hook := s.hook
	s.mu.Unlock()
	u, err := url.Parse(hook.post)
	if err != nil {
		return ProbeResult{}, errBadWebhookURL
	}
	u.RawQuery = ""
	rctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return ProbeResult{}, errBadWebhookURL
	}
	req.Header.Set("User-Agent", userAgent)
	resp, err := s.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return ProbeResult{}, &scrubbed{op: "get discord webhook", msg: hook.redact(err.Error()), err: err}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
	if err != nil {
		return ProbeResult{}, &scrubbed{op: "read discord webhook", msg: hook.redact(err.Error()), err: err}
	}
	if resp.StatusCode != http.StatusOK {
		se := statusError(resp.StatusCode, []byte(hook.redact(string(data))))
		switch resp.StatusCode {
		case http.StatusNotFound:
			return ProbeResult{}, fmt.Errorf("%s: %w", reason404, se)
		case http.StatusUnauthorized, http.StatusForbidden:
			return ProbeResult{}, fmt.Errorf("the webhook token is wrong: copy the whole webhook URL again into discord.webhook_url: %w", se)
		}
		return ProbeResult{}, se
	}
	var obj struct {
		ID        string `json:"id"`
		Name      string `json:"name"`
		ChannelID string `json:"channel_id"`
	}
	if err := json.Unmarshal(data, &obj); err != nil || obj.ID == "" {
		return ProbeResult{}, errors.New("get discord webhook: the answer is not a webhook object (a proxy in the way?)")
	}
	return ProbeResult{Name: bounded([]byte(obj.Name)), ChannelID: bounded([]byte(obj.ChannelID))}, nil
}
