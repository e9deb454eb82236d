package postgrest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

const (
	// maxBody bounds how much of a response is read: PostgREST's error
	// objects are a few hundred bytes, a gateway's HTML page a few KiB.
	maxBody = 64 << 10
	// maxField bounds each error field kept for logs and dead letters.
	maxField = 300
	// maxRetryAfter caps the peer's wait hint so a bogus header cannot park
	// the sink for days.
	maxRetryAfter = time.Hour
)

// APIError is a failed answer from PostgREST or the Supabase gateway in front
// of it. PostgREST's errors are JSON objects with code, details, hint and
// message (nulls where absent); the gateway's carry only message and hint.
type APIError struct {
	Status  int    // HTTP status
	Code    string // SQLSTATE (e.g. 23505) or PostgREST code (e.g. PGRST205); may be empty
	Message string
	Details string
	Hint    string
	Body    string // the start of the body when it was not a JSON object
}

// ParseError reads an error response. It never fails: a body that is not
// PostgREST's JSON is kept, bounded and cleaned, in Body.
func ParseError(status int, body []byte) *APIError {
	e := &APIError{Status: status}
	var obj map[string]json.RawMessage
	if len(body) > maxBody {
		body = body[:maxBody]
	}
	if err := json.Unmarshal(body, &obj); err != nil || obj == nil {
		e.Body = clean(string(body))
		return e
	}
	e.Code = field(obj, "code", "error_code")
	e.Message = field(obj, "message", "msg", "error")
	e.Details = field(obj, "details", "error_description")
	e.Hint = field(obj, "hint")
	return e
}

// field is the first of keys present in obj as a string or a number.
func field(obj map[string]json.RawMessage, keys ...string) string {
	for _, k := range keys {
		raw, ok := obj[k]
		if !ok {
			continue
		}
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return clean(s)
		}
		var n json.Number
		if json.Unmarshal(raw, &n) == nil {
			return clean(n.String())
		}
	}
	return ""
}

// clean makes peer text safe for one log line: valid UTF-8, no control
// characters, at most maxField bytes.
func clean(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if len(s) > maxField {
		cut := maxField
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "postgrest status %d", e.Status)
	if e.Code != "" {
		fmt.Fprintf(&b, " %s", e.Code)
	}
	for _, s := range []string{e.Message, e.Details, e.Hint, e.Body} {
		if s != "" {
			b.WriteString(": ")
			b.WriteString(s)
		}
	}
	return b.String()
}

// redact removes secret from every field, in case a peer echoes it.
func (e *APIError) redact(secret string) {
	if secret == "" {
		return
	}
	for _, p := range []*string{&e.Code, &e.Message, &e.Details, &e.Hint, &e.Body} {
		*p = strings.ReplaceAll(*p, secret, "[redacted]")
	}
}

// class is what a response means for the rows it answered.
type class int

const (
	classDelivered     class = iota
	classRowProblem          // a row of the batch is bad: split; alone, dead-letter it
	classDuplicate           // 23505 without on_conflict applied: split; alone, it is there
	classRetry               // transient: 5xx, read-only database
	classRateLimited         // 429 from the gateway
	classMisconfigured       // key, grants, policies, table or URL need fixing
)

// classify maps a response to a class (from the reference's status table:
// PostgREST maps SQLSTATEs to HTTP statuses, its own codes are PGRSTxyz).
func classify(status int, code string) class {
	switch {
	case status >= 200 && status < 300:
		return classDelivered
	case status == http.StatusConflict:
		if code == "23505" {
			return classDuplicate
		}
		return classRowProblem // 23503 and the like name a row
	case status == http.StatusBadRequest:
		if configCode(code) {
			return classMisconfigured
		}
		return classRowProblem
	case status == http.StatusRequestEntityTooLarge:
		return classRowProblem
	case status == http.StatusMethodNotAllowed && code == "25006":
		return classRetry // read-only transaction: e.g. a Supabase project out of disk
	case status == http.StatusRequestTimeout:
		return classRetry
	case status == http.StatusTooManyRequests:
		return classRateLimited
	case status >= 500:
		return classRetry
	}
	return classMisconfigured // 401, 403, 404, 406, redirects, anything unexpected
}

// configCode reports whether a 400's code names the table, the request or the
// key rather than a row.
func configCode(code string) bool {
	switch code {
	case "PGRST102": // invalid body: bisecting finds out whether a row causes it
		return false
	case "22023": // role named by the JWT does not exist
		return true
	}
	return strings.HasPrefix(code, "PGRST1") || // request: query, headers, schema
		strings.HasPrefix(code, "PGRST2") || // schema cache: e.g. PGRST204 column not found
		strings.HasPrefix(code, "PGRST3") || // JWT
		strings.HasPrefix(code, "42") // syntax or access rule: 42P10, 42703, 42501, 42P01
}

// fixHint tells the user what to change for a misconfigured answer. It names
// no secret: only the table and what to do.
func fixHint(e *APIError, table string) string {
	msg := strings.ToLower(e.Message + " " + e.Hint)
	switch {
	case e.Code == "42501" && strings.Contains(msg, "row-level security"):
		return fmt.Sprintf("row-level security refused the insert into %q: add an INSERT and a SELECT policy "+
			"for the key's role (ignore-duplicates needs both; see the README) or use the service_role/secret key", table)
	case e.Code == "42501":
		return fmt.Sprintf("the key's role may not write %q: GRANT SELECT, INSERT ON %s TO anon "+
			"(or the key's role; see the README)", table, table)
	case e.Code == "PGRST205" || e.Code == "42P01" || e.Status == http.StatusNotFound:
		return fmt.Sprintf("table %q not found: create it with the README's schema, or fix remote_db.table "+
			"and remote_db.url (it must end in /rest/v1)", table)
	case e.Code == "PGRST204" || e.Code == "42703":
		return fmt.Sprintf("table %q lacks a column kickwatch writes: run the README's schema to add it", table)
	case e.Code == "42P10":
		return fmt.Sprintf("table %q needs a unique constraint on message_id: run the README's schema", table)
	case e.Code == "22023":
		return "the API key names a database role that does not exist: use the project's anon or service_role key"
	case e.Code == "PGRST106" || e.Status == http.StatusNotAcceptable:
		return "the schema is not exposed by the API: use the public schema or expose it in the project's API settings"
	case e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden:
		return "the API key was refused: set remote_db.api_key to the project's service_role/secret key " +
			"or its anon/publishable key"
	case e.Status >= 300 && e.Status < 400:
		return "remote_db.url redirects: use the final URL, e.g. https://<project>.supabase.co/rest/v1"
	}
	return "unexpected answer: check remote_db.url and remote_db.table"
}

// retryAfter reads a Retry-After header: delay-seconds or an HTTP date.
func retryAfter(h string, now time.Time) time.Duration {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.ParseFloat(h, 64); err == nil {
		if secs != secs || secs <= 0 { // NaN or no wait
			return 0
		}
		if secs >= maxRetryAfter.Seconds() {
			return maxRetryAfter
		}
		d = time.Duration(secs * float64(time.Second))
	} else if t, err := http.ParseTime(h); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), maxRetryAfter)
}
