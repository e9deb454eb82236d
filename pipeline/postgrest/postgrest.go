// Package postgrest is kickwatch's remote database sink: it inserts mentions
// into a Supabase (PostgREST) table, idempotently, many rows per request.
//
// Every insert is
//
//	POST {url}/{table}?on_conflict=message_id
//	Prefer: resolution=ignore-duplicates,return=minimal
//
// so a mention sent twice (after a crash, a timeout) is stored once.
package postgrest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"kickwatch/pipeline"
)

const (
	// Name is the sink's name in the outbox and in config ([remote_db]).
	Name = "remote_db"
	// MaxBatch is the most rows per request: large enough to drain an
	// outage backlog quickly, small enough that a batch split to find a bad
	// row takes at most 14 requests.
	MaxBatch = 100
	// DefaultTable is the seed's table name.
	DefaultTable = "kick_notifications"
	// DefaultTimeout is the seed's database save timeout, per request.
	DefaultTimeout = 15 * time.Second
)

// Options configure a Sink. Zero values take the defaults.
type Options struct {
	URL        string        // API root, e.g. https://<project>.supabase.co/rest/v1
	APIKey     string        // sent as apikey and as a Bearer token; may be empty for a bare PostgREST
	Table      string        // default DefaultTable
	Timeout    time.Duration // per request; default DefaultTimeout
	HTTPClient *http.Client  // default: a client that does not follow redirects
	Logger     *slog.Logger  // default: discard
	Now        func() time.Time
}

// Sink inserts mentions into a PostgREST table. It is safe for concurrent use.
type Sink struct {
	endpoint string // {url}/{table}?on_conflict=message_id; kept out of errors
	key      string
	table    string
	timeout  time.Duration
	client   *http.Client
	log      *slog.Logger
	now      func() time.Time
}

var _ pipeline.Sink = (*Sink)(nil)

// New checks o and returns a Sink. Its errors never contain the API key.
func New(o Options) (*Sink, error) {
	u, err := url.Parse(strings.TrimSpace(o.URL))
	if err != nil {
		return nil, errors.New("parse remote_db url: not a valid URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, errors.New("parse remote_db url: want http(s)://host/rest/v1")
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, errors.New("parse remote_db url: remove its query, fragment or user info")
	}
	if strings.ContainsAny(o.APIKey, "\r\n\x00") || strings.TrimSpace(o.APIKey) != o.APIKey {
		return nil, errors.New("remote_db api key: contains whitespace or control characters")
	}
	s := &Sink{
		key:     o.APIKey,
		table:   o.Table,
		timeout: o.Timeout,
		client:  o.HTTPClient,
		log:     o.Logger,
		now:     o.Now,
	}
	if s.table == "" {
		s.table = DefaultTable
	}
	if strings.ContainsAny(s.table, "/?#") {
		return nil, fmt.Errorf("remote_db table %q: not a table name", s.table)
	}
	if s.timeout <= 0 {
		s.timeout = DefaultTimeout
	}
	if s.client == nil {
		s.client = &http.Client{
			// A redirect would turn the POST into a GET; report it instead.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.log = s.log.With("component", "sink", "sink", Name)
	if s.now == nil {
		s.now = time.Now
	}
	u.Path = strings.TrimRight(u.Path, "/") + "/" + s.table
	u.RawPath = ""
	u.RawQuery = "on_conflict=message_id"
	s.endpoint = u.String()
	return s, nil
}

// Name is "remote_db".
func (s *Sink) Name() string { return Name }

// MaxBatch is how many mentions one Deliver call may take.
func (s *Sink) MaxBatch() int { return MaxBatch }

// Deliver inserts ms and returns one result per mention, in order. A row the
// database refuses is isolated by splitting the batch and reported
// Permanent; its batch-mates are still delivered.
func (s *Sink) Deliver(ctx context.Context, ms []pipeline.Mention) []pipeline.Result {
	out := make([]pipeline.Result, len(ms))
	// One row per message id: the outbox should never hand us two, but a
	// statement that proposes the same key twice must not fail the batch.
	first := make(map[string]int, len(ms))
	var rows []Row
	var at []int // at[i]: index in rows of ms[i]
	now := s.now()
	for i := range ms {
		j, seen := first[ms[i].MessageID]
		if !seen {
			j = len(rows)
			first[ms[i].MessageID] = j
			rows = append(rows, NewRow(&ms[i], now))
		}
		at = append(at, j)
	}
	res := make([]pipeline.Result, len(rows))
	for lo := 0; lo < len(rows); lo += MaxBatch {
		hi := min(lo+MaxBatch, len(rows))
		s.deliver(ctx, rows[lo:hi], res[lo:hi])
	}
	for i, j := range at {
		out[i] = res[j]
	}
	return out
}

// deliver sends rows and fills res. It splits the batch while the answer
// names a row, and reports whether the sink should stop sending for now.
func (s *Sink) deliver(ctx context.Context, rows []Row, res []pipeline.Result) (stop bool) {
	c, r := s.post(ctx, rows)
	switch c {
	case classDelivered:
		fill(res, r)
		return false
	case classRowProblem, classDuplicate:
		if len(rows) == 1 {
			if c == classDuplicate {
				res[0] = pipeline.Result{Outcome: pipeline.Delivered}
			} else {
				s.log.Warn("row refused", "message_id", rows[0].MessageID, "error", r.Err)
				res[0] = r
			}
			return false
		}
		s.log.Debug("splitting batch", "rows", len(rows), "error", r.Err)
		mid := len(rows) / 2
		if s.deliver(ctx, rows[:mid], res[:mid]) {
			fill(res[mid:], res[mid-1])
			return true
		}
		return s.deliver(ctx, rows[mid:], res[mid:])
	}
	fill(res, r)
	return true
}

func fill(res []pipeline.Result, r pipeline.Result) {
	for i := range res {
		res[i] = r
	}
}

// post sends one request and classifies its answer. The Result it returns
// applies to every row sent (for a row problem: to the row, if alone).
func (s *Sink) post(ctx context.Context, rows []Row) (class, pipeline.Result) {
	body, err := json.Marshal(rows)
	if err != nil { // cannot happen for Row; keep the rows rather than drop them
		return classRetry, pipeline.Result{Outcome: pipeline.Retry, Err: fmt.Errorf("encode rows: %w", err)}
	}
	if err := ctx.Err(); err != nil {
		return classRetry, s.transportResult(ctx, err)
	}
	rctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, s.endpoint, bytes.NewReader(body))
	if err != nil {
		return classMisconfigured, pipeline.Result{Outcome: pipeline.Misconfigured,
			Err: errors.New("remote_db misconfigured: cannot build a request from remote_db.url")}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Prefer", "resolution=ignore-duplicates,return=minimal")
	if s.key != "" {
		req.Header.Set("apikey", s.key)
		req.Header.Set("Authorization", "Bearer "+s.key)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return classRetry, s.transportResult(rctx, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil && resp.StatusCode >= 300 {
		return classRetry, s.transportResult(rctx, fmt.Errorf("read response: %w", err))
	}

	c := classify(resp.StatusCode, "")
	if c == classDelivered {
		return c, pipeline.Result{Outcome: pipeline.Delivered}
	}
	e := ParseError(resp.StatusCode, raw)
	e.redact(s.key)
	c = classify(resp.StatusCode, e.Code)
	r := pipeline.Result{Err: e}
	switch c {
	case classRowProblem:
		r.Outcome = pipeline.Permanent
		r.Err = fmt.Errorf("remote_db refused the row: %w", e)
	case classDuplicate:
		r.Outcome = pipeline.Delivered
	case classRetry:
		r.Outcome = pipeline.Retry
		r.RetryAfter = retryAfter(resp.Header.Get("Retry-After"), s.now())
		r.Timeout = resp.StatusCode == http.StatusGatewayTimeout || resp.StatusCode == http.StatusRequestTimeout
	case classRateLimited:
		r.Outcome = pipeline.RateLimited
		r.RetryAfter = retryAfter(resp.Header.Get("Retry-After"), s.now())
	case classMisconfigured:
		r.Outcome = pipeline.Misconfigured
		r.Err = fmt.Errorf("remote_db misconfigured: %s: %w", fixHint(e, s.table), e)
	}
	return c, r
}

// transportResult turns a failed round trip into a Retry whose error names
// the operation and the network error only: *url.Error would carry the URL.
func (s *Sink) transportResult(ctx context.Context, err error) pipeline.Result {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	timeout := errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		timeout = true
	}
	var werr error
	switch {
	case timeout:
		werr = fmt.Errorf("post rows: timed out: %w", context.DeadlineExceeded)
	case errors.Is(err, context.Canceled):
		werr = fmt.Errorf("post rows: %w", context.Canceled)
	case s.key != "" && strings.Contains(err.Error(), s.key):
		werr = fmt.Errorf("post rows: %s", strings.ReplaceAll(err.Error(), s.key, "[redacted]"))
	default:
		werr = fmt.Errorf("post rows: %w", err)
	}
	return pipeline.Result{Outcome: pipeline.Retry, Err: werr, Timeout: timeout}
}
