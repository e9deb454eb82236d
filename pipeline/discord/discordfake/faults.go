package discordfake

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"
)

// Fault is a scripted answer for one request. The zero Fault is a normal
// answer (bucket, validation, success). Faults are consumed in request order.
type Fault struct {
	// Status, when non-zero, is answered instead of the normal handling, with
	// Body (or, when Body is "", the reference's body for that status).
	Status      int
	Body        string
	ContentType string      // default application/json, or what the canned body needs
	Header      http.Header // extra headers
	// NoRateHeaders leaves out the X-RateLimit-* and Via headers, like
	// Cloudflare's own answers.
	NoRateHeaders bool
	// Hang blocks until the request's context ends (the client gives up) or
	// the server closes. No answer is written.
	Hang bool
	// Reset hijacks the connection and closes it with a TCP RST.
	Reset bool
	// SlowBody writes the status, headers and half of the body, then waits
	// SlowDelay (or, when zero, until the client gives up) before the rest.
	SlowBody  bool
	SlowDelay time.Duration
	// Times repeats the fault for that many requests (default 1).
	Times int
}

// Status answers code with the reference's body for it (section A3):
// 400 → 50035 Invalid Form Body with an errors object, 401 → 50027,
// 403 → 50013, 404 → 10015, 429 → user-scope rate limit, 500 → JSON,
// 502 → Cloudflare's HTML gateway page, 503 → 130000 overloaded.
func Status(code int) Fault { return Fault{Status: code} }

// OK is a normal answer, for spacing faults in a script.
func OK() Fault { return Fault{} }

// Hang is a request that never gets an answer.
func Hang() Fault { return Fault{Hang: true} }

// Reset is a connection reset mid-request.
func Reset() Fault { return Fault{Reset: true} }

// SlowBody answers 200 but stalls halfway through the body.
func SlowBody(d time.Duration) Fault {
	return Fault{Status: http.StatusOK, SlowBody: true, SlowDelay: d}
}

// InvalidJSON answers 200 with a body that is not JSON.
func InvalidJSON() Fault {
	return Fault{Status: http.StatusOK, Body: `{"id": "1234`, ContentType: "application/json"}
}

// RateLimit is a 429 in scope "user", "shared" or "global", with the
// headers and JSON body of the reference's examples (A2). retryAfter is the
// body's float seconds; the Retry-After header is its integer ceiling.
func RateLimit(scope string, retryAfter float64) Fault {
	h := http.Header{}
	h.Set("Retry-After", strconv.Itoa(int(math.Ceil(retryAfter))))
	h.Set("X-RateLimit-Scope", scope)
	msg, global := "You are being rate limited.", false
	f := Fault{Status: http.StatusTooManyRequests, Header: h}
	switch scope {
	case "global":
		h.Set("X-RateLimit-Global", "true")
		global = true
		f.NoRateHeaders = true
		h.Set("Via", "1.1 google")
	case "shared":
		msg = "The resource is being rate limited."
	}
	f.Body = fmt.Sprintf(`{"message": %q, "retry_after": %s, "global": %t}`, msg, strconv.FormatFloat(retryAfter, 'f', -1, 64), global)
	return f
}

// Cloudflare1015 is Cloudflare's IP-level block: a plain-text 429 with no
// rate-limit or Via headers (reference A2).
func Cloudflare1015() Fault {
	return Fault{Status: http.StatusTooManyRequests, Body: "error code: 1015", ContentType: "text/plain; charset=UTF-8", NoRateHeaders: true}
}

// cannedBody is the reference's body for a status (A3). Bodies for 500 and
// 502 are not in the reference: 500 uses Discord's "{status}: {text}" error
// form, 502 a Cloudflare-style HTML page.
func cannedBody(status int) (body, contentType string) {
	const js = "application/json"
	switch status {
	case http.StatusBadRequest:
		return `{"message": "Invalid Form Body", "code": 50035, "errors": {"embeds": {"0": {"description": {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 4096 or fewer in length."}]}}}}}`, js
	case http.StatusUnauthorized:
		return `{"message": "Invalid Webhook Token", "code": 50027}`, js
	case http.StatusForbidden:
		return `{"message": "Missing Permissions", "code": 50013}`, js
	case http.StatusNotFound:
		return `{"message": "Unknown Webhook", "code": 10015}`, js
	case http.StatusTooManyRequests:
		return `{"message": "You are being rate limited.", "retry_after": 1.5, "global": false}`, js
	case http.StatusInternalServerError:
		return `{"message": "500: Internal Server Error", "code": 0}`, js
	case http.StatusBadGateway:
		return "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>cloudflare</center>\r\n</body>\r\n</html>\r\n", "text/html"
	case http.StatusServiceUnavailable:
		return `{"message": "API resource is currently overloaded. Try again a little later.", "code": 130000}`, js
	case http.StatusNoContent:
		return "", ""
	}
	return fmt.Sprintf(`{"message": "%d: %s", "code": 0}`, status, http.StatusText(status)), js
}
