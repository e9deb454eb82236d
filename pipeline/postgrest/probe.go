package postgrest

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

// Probe checks that the table is reachable and readable with the key,
// without writing: a zero-row select (GET {url}/{table}?select=message_id&limit=0).
// A 401/403/404 names the fix; no error ever contains the key.
func (s *Sink) Probe(ctx context.Context) error {
	u, err := url.Parse(s.endpoint)
	if err != nil {
		return fmt.Errorf("probe remote_db: bad url")
	}
	u.RawQuery = "select=message_id&limit=0"
	rctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return fmt.Errorf("probe remote_db: cannot build a request from remote_db.url")
	}
	if s.key != "" {
		req.Header.Set("apikey", s.key)
		req.Header.Set("Authorization", "Bearer "+s.key)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("probe remote_db: %w", s.transportResult(rctx, err).Err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	e := ParseError(resp.StatusCode, raw)
	e.redact(s.key)
	if classify(resp.StatusCode, e.Code) == classMisconfigured {
		return fmt.Errorf("remote_db misconfigured: %s: %w", fixHint(e, s.table), e)
	}
	return fmt.Errorf("probe remote_db: %w", e)
}
