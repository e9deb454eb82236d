package centrifugo

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
)

// WebSocketPath is the only path a realtime server URL may have.
const WebSocketPath = "/connection/websocket"

// ErrBadURL is wrapped by every realtime URL validation error.
var ErrBadURL = errors.New("invalid realtime url")

// URLPolicy decides which WebSocket URLs the client accepts, whether
// configured or handed out by the negotiation endpoint.
type URLPolicy struct {
	// AllowedHosts lists exact host names, or domain suffixes written with a
	// leading dot (".kick.com" accepts any sub-domain of kick.com).
	// Empty means []string{".kick.com"}.
	AllowedHosts []string
	// AllowLoopback also accepts ws:// and wss:// URLs on 127.0.0.1, ::1 and
	// localhost, any port. For tests against a local server only.
	AllowLoopback bool
}

// Validate parses raw and checks it against the policy: wss only, an allowed
// host, path /connection/websocket, no credentials, query, fragment or
// control characters.
func (p URLPolicy) Validate(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, fmt.Errorf("%w: empty", ErrBadURL)
	}
	if len(raw) > 2048 {
		return nil, fmt.Errorf("%w: longer than 2048 bytes", ErrBadURL)
	}
	for i := 0; i < len(raw); i++ {
		if c := raw[i]; c <= ' ' || c >= 0x7f || c == '\\' {
			return nil, fmt.Errorf("%w: control, space or non-ASCII character at byte %d", ErrBadURL, i)
		}
	}
	if strings.ContainsAny(raw, "?#") {
		return nil, fmt.Errorf("%w: query or fragment not allowed", ErrBadURL)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: does not parse", ErrBadURL)
	}
	if u.User != nil {
		return nil, fmt.Errorf("%w: credentials not allowed", ErrBadURL)
	}
	if u.Opaque != "" || u.RawPath != "" || u.Path != WebSocketPath {
		return nil, fmt.Errorf("%w: path must be %s", ErrBadURL, WebSocketPath)
	}
	host := strings.ToLower(u.Hostname())
	if p.AllowLoopback && isLoopback(host) && (u.Scheme == "ws" || u.Scheme == "wss") {
		return u, nil
	}
	if u.Scheme != "wss" {
		return nil, fmt.Errorf("%w: scheme must be wss", ErrBadURL)
	}
	if port := u.Port(); port != "" && port != "443" {
		return nil, fmt.Errorf("%w: port %s not allowed", ErrBadURL, port)
	}
	if !validHostName(host) {
		return nil, fmt.Errorf("%w: bad host name", ErrBadURL)
	}
	if !p.hostAllowed(host) {
		return nil, fmt.Errorf("%w: host %s is not a Kick host", ErrBadURL, host)
	}
	return u, nil
}

func (p URLPolicy) hostAllowed(host string) bool {
	allowed := p.AllowedHosts
	if len(allowed) == 0 {
		allowed = []string{".kick.com"}
	}
	for _, a := range allowed {
		a = strings.ToLower(a)
		if strings.HasPrefix(a, ".") {
			if len(host) > len(a) && strings.HasSuffix(host, a) {
				return true
			}
		} else if host == a {
			return true
		}
	}
	return false
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// validHostName accepts lowercase DNS names: labels of [a-z0-9-], no empty
// label, no trailing dot, no IP literal.
func validHostName(h string) bool {
	if h == "" || len(h) > 253 || net.ParseIP(h) != nil {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// NewClientID returns a random UUID v4, the made-up client id Kick's
// realtime API expects.
func NewClientID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	const hex = "0123456789abcdef"
	out := make([]byte, 0, 36)
	for i, v := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out = append(out, '-')
		}
		out = append(out, hex[v>>4], hex[v&0x0f])
	}
	return string(out)
}
