package status

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestBasicAuth(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	h := BasicAuth("ops", "s3cret", ok)
	for _, tt := range []struct {
		name       string
		user, pass string
		set        bool
		want       int
	}{
		{"right", "ops", "s3cret", true, http.StatusTeapot},
		{"no credentials", "", "", false, http.StatusUnauthorized},
		{"wrong password", "ops", "s3cre", true, http.StatusUnauthorized},
		{"wrong user", "Ops", "s3cret", true, http.StatusUnauthorized},
		{"swapped", "s3cret", "ops", true, http.StatusUnauthorized},
		{"empty both", "", "", true, http.StatusUnauthorized},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			if tt.set {
				r.SetBasicAuth(tt.user, tt.pass)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tt.want {
				t.Errorf("status=%d, want %d", w.Code, tt.want)
			}
			if tt.want == http.StatusUnauthorized && w.Header().Get("WWW-Authenticate") != `Basic realm="kickwatch", charset="UTF-8"` {
				t.Errorf("WWW-Authenticate=%q", w.Header().Get("WWW-Authenticate"))
			}
		})
	}

	// Auth off: both empty.
	w := httptest.NewRecorder()
	BasicAuth("", "", ok).ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
	if w.Code != http.StatusTeapot {
		t.Errorf("auth off: status=%d, want %d", w.Code, http.StatusTeapot)
	}
}

func TestIsLoopback(t *testing.T) {
	for _, tt := range []struct {
		addr string
		want bool
	}{
		{"127.0.0.1:9090", true},
		{"127.0.0.2:9090", true},
		{"[::1]:9090", true},
		{"localhost:9090", true},
		{"LocalHost:9090", true},
		{"127.0.0.1", true},
		{"::1", true},
		{"[fe80::1%eth0]:9090", false},
		{":9090", false},
		{"0.0.0.0:9090", false},
		{"[::]:9090", false},
		{"192.168.1.10:9090", false},
		{"pi.local:9090", false},
		{"localhost.evil.com:9090", false},
		{"", false},
	} {
		if got := IsLoopback(tt.addr); got != tt.want {
			t.Errorf("IsLoopback(%q)=%v, want %v", tt.addr, got, tt.want)
		}
	}
}
