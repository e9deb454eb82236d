package status

import (
	"crypto/sha256"
	"crypto/subtle"
	"net"
	"net/http"
	"strings"
)

// BasicAuth lets a request through to h only with HTTP basic credentials
// user and pass; others get 401 with a challenge. Both are compared in
// constant time over their SHA-256, so neither the values nor their lengths
// leak through timing. With user and pass both empty it returns h: auth is
// off.
func BasicAuth(user, pass string, h http.Handler) http.Handler {
	if user == "" && pass == "" {
		return h
	}
	wantUser, wantPass := sha256.Sum256([]byte(user)), sha256.Sum256([]byte(pass))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		gotUser, gotPass := sha256.Sum256([]byte(u)), sha256.Sum256([]byte(p))
		// Both compares run whatever the first says.
		userOK := subtle.ConstantTimeCompare(gotUser[:], wantUser[:])
		passOK := subtle.ConstantTimeCompare(gotPass[:], wantPass[:])
		if !ok || userOK&passOK != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="kickwatch", charset="UTF-8"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// IsLoopback reports whether a listen address ("host:port", or a bare host)
// accepts connections from this machine only: a loopback IP or "localhost".
// An empty host, an unspecified address (0.0.0.0, ::) and any other name
// count as public, since a name may resolve to anything.
func IsLoopback(listenAddr string) bool {
	host := listenAddr
	if h, _, err := net.SplitHostPort(listenAddr); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if i := strings.IndexByte(host, '%'); i >= 0 { // IPv6 zone
		host = host[:i]
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
