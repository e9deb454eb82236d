package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"kickwatch/store"
)

// The variables testdata/postgrest/env.sh writes (testdata/with-services.sh
// exports them under `make test`).
const (
	EnvPostgRESTURL = "KICKWATCH_TEST_POSTGREST_URL"
	EnvPostgRESTKey = "KICKWATCH_TEST_POSTGREST_KEY"         // anon role JWT
	EnvServiceKey   = "KICKWATCH_TEST_POSTGREST_SERVICE_KEY" // service_role JWT
	EnvPGDSN        = "KICKWATCH_TEST_PG_DSN"                // psql DSN, superuser
)

// PostgREST is a real PostgREST started by testdata/postgrest/env.sh.
type PostgREST struct {
	URL        string // http://127.0.0.1:PORT
	Key        string // anon key, what the daemon uses (as a Supabase anon key)
	ServiceKey string // service_role key, for reading back
	DSN        string // for psql; "" when unknown
}

// PostgRESTFromEnv reads the env.sh variables; ok is false when the URL or
// key is unset.
func PostgRESTFromEnv() (p PostgREST, ok bool) {
	p = PostgREST{
		URL:        os.Getenv(EnvPostgRESTURL),
		Key:        os.Getenv(EnvPostgRESTKey),
		ServiceKey: os.Getenv(EnvServiceKey),
		DSN:        os.Getenv(EnvPGDSN),
	}
	if p.ServiceKey == "" {
		p.ServiceKey = p.Key
	}
	return p, p.URL != "" && p.Key != ""
}

// tableNameRE is what CreateTable accepts: a plain lowercase identifier.
var tableNameRE = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,50}$`)

// CreateTable creates table with the real schema (testdata/postgrest/
// schema.sql with kick_notifications renamed), through psql, and waits until
// PostgREST serves it.
func (p PostgREST) CreateTable(ctx context.Context, table string) error {
	if !tableNameRE.MatchString(table) {
		return fmt.Errorf("create table %q: not a plain identifier", table)
	}
	if p.DSN == "" {
		return fmt.Errorf("create table %s: %s is not set", table, EnvPGDSN)
	}
	root, err := ModuleRoot(ctx)
	if err != nil {
		return err
	}
	schema, err := os.ReadFile(filepath.Join(root, "testdata", "postgrest", "schema.sql"))
	if err != nil {
		return fmt.Errorf("create table: %w", err)
	}
	sql := strings.ReplaceAll(string(schema), "kick_notifications", table)
	if err := p.psql(ctx, sql); err != nil {
		return fmt.Errorf("create table %s: %w", table, err)
	}
	// PostgREST reloads its schema cache asynchronously after the NOTIFY.
	// A GET already answers 200 before that (PostgREST 12 reads a table it
	// does not know yet) while inserts still get 404, so wait for an insert
	// of no rows to pass.
	wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	return Poll(wctx, 50*time.Millisecond, func() (bool, error) {
		code, _, err := p.do(wctx, http.MethodPost, "/"+table+"?columns=message_id", []byte("[]"))
		return err == nil && code == http.StatusCreated, nil
	})
}

// DropTable drops table (a cleanup; errors are returned, not fatal).
func (p PostgREST) DropTable(ctx context.Context, table string) error {
	if !tableNameRE.MatchString(table) {
		return fmt.Errorf("drop table %q: not a plain identifier", table)
	}
	return p.psql(ctx, "DROP TABLE IF EXISTS public."+table+"; NOTIFY pgrst, 'reload schema';")
}

func (p PostgREST) psql(ctx context.Context, sql string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", p.DSN, "-f", "-")
	cmd.Env = append(os.Environ(), "PGOPTIONS=-c client_min_messages=warning")
	cmd.Stdin = strings.NewReader(sql)
	cmd.WaitDelay = waitDelay
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("psql: %w: %s", err, bytes.TrimSpace(out.Bytes()))
	}
	return nil
}

// get fetches path with the service key and returns status and body (bounded).
func (p PostgREST) get(ctx context.Context, path string) (int, []byte, error) {
	return p.do(ctx, http.MethodGet, path, nil)
}

// do sends a request with the service key and returns status and body.
func (p PostgREST) do(ctx context.Context, method, path string, body []byte) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(p.URL, "/")+path, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Prefer", "return=minimal")
	}
	req.Header.Set("apikey", p.ServiceKey)
	req.Header.Set("Authorization", "Bearer "+p.ServiceKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return 0, nil, fmt.Errorf("get postgrest: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	return resp.StatusCode, b, err
}

// Row is a stored row, the columns the tests look at.
type Row struct {
	MessageID string `json:"message_id"`
	Type      string `json:"type"`
	Channel   string `json:"channel"`
	Username  string `json:"username"`
	Message   string `json:"message"`
}

// Rows returns every row of table.
func (p PostgREST) Rows(ctx context.Context, table string) ([]Row, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	code, b, err := p.get(ctx, "/"+table+"?select=message_id,type,channel,username,message&order=id")
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", table, err)
	}
	if code != http.StatusOK {
		return nil, fmt.Errorf("read %s: status %d: %.200s", table, code, b)
	}
	var rows []Row
	if err := json.Unmarshal(b, &rows); err != nil {
		return nil, fmt.Errorf("read %s: %w", table, err)
	}
	return rows, nil
}

// OutboxStats runs `kickwatch outbox stats -json` against the daemon's
// config (it may run beside the daemon).
func (d Daemon) OutboxStats(ctx context.Context) (store.Stats, error) {
	res, err := d.RunCLI(ctx, "outbox", "stats", "-json", "-config", d.Config)
	if err != nil {
		return store.Stats{}, err
	}
	if res.ExitCode != 0 {
		return store.Stats{}, fmt.Errorf("outbox stats: exit %d: %s", res.ExitCode, res.Stderr)
	}
	var st store.Stats
	if err := json.Unmarshal([]byte(res.Stdout), &st); err != nil {
		return store.Stats{}, fmt.Errorf("outbox stats: %w", err)
	}
	return st, nil
}

// SinkStats returns the stats of one sink ("discord", "remote_db"); ok is
// false when the store has no such sink.
func SinkStats(st store.Stats, sink string) (store.SinkStats, bool) {
	for _, s := range st.Sinks {
		if s.Sink == sink {
			return s, true
		}
	}
	return store.SinkStats{Sink: sink}, false
}
