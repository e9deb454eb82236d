package app

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"kickwatch/pipeline/config"
)

func TestHTTP_BasicAuthGuardsAllButHealthz(t *testing.T) {
	const password = "pw-SeCrEt-0123456789"
	path, _ := writeConfig(t, strings.Replace(demoBase, `listen = ""`, "listen = \"127.0.0.1:0\"\nbasic_auth_user = \"ops\"", 1), "")
	c := newCLI(t)
	c.env["KICKWATCH_HTTP_PASSWORD"] = password
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan int, 1)
	go func() { done <- c.run(ctx, "run", "-config", path) }()
	defer func() {
		cancel()
		<-done
	}()
	var base string
	waitFor(t, "the http listener", func() bool {
		up, ok := logLine(c.stderr.String(), "http listener up")
		if ok {
			base = "http://" + up["addr"].(string)
		}
		return ok
	})
	get := func(path, user, pass string) int {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, tt := range []struct {
		path, user, pass string
		want             int
	}{
		{"/healthz", "", "", http.StatusOK},
		{"/metrics", "", "", http.StatusUnauthorized},
		{"/", "", "", http.StatusUnauthorized},
		{"/readyz", "ops", "wrong", http.StatusUnauthorized},
		{"/metrics", "ops", password, http.StatusOK},
		{"/", "ops", password, http.StatusOK},
	} {
		if got := get(tt.path, tt.user, tt.pass); got != tt.want {
			t.Errorf("GET %s as %q: %d, want %d", tt.path, tt.user, got, tt.want)
		}
	}
	if strings.Contains(c.stderr.String(), password) {
		t.Error("the password appears in the log")
	}
}

func TestPublicWithoutAuth(t *testing.T) {
	for _, tt := range []struct {
		listen, user string
		warn         bool
	}{
		{"127.0.0.1:9090", "", false},
		{"[::1]:9090", "", false},
		{"", "", false},
		{"0.0.0.0:9090", "", true},
		{":9090", "", true},
		{"0.0.0.0:9090", "ops", false},
	} {
		cfg := &config.Config{HTTP: config.HTTP{Listen: tt.listen, BasicAuthUser: tt.user}}
		if got := publicWithoutAuth(cfg) != ""; got != tt.warn {
			t.Errorf("listen %q user %q: warn=%v, want %v", tt.listen, tt.user, got, tt.warn)
		}
	}
}
