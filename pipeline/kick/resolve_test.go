package kick

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"kickwatch/pipeline"
	"kickwatch/pipeline/kick/kickfake"
)

func TestResolver_Resolve(t *testing.T) {
	fake := kickfake.New(kickfake.Options{})
	fake.AddChannel(kickfake.APIChannel{Slug: "xqc", ChannelID: 668, ChatroomID: 668123})
	var ua, accept atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ua.Store(r.UserAgent())
		accept.Store(r.Header.Get("Accept"))
		fake.Handler().ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	r := NewResolver(ResolverOptions{APIURL: fake.APIURL(srv.URL)})

	got, err := r.Resolve(t.Context(), "XQC")
	if err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	if want := (pipeline.Channel{Slug: "xqc", ChatroomID: 668123, ChannelID: 668}); got != want {
		t.Fatalf("Resolve = %+v, want %+v", got, want)
	}
	if !strings.HasPrefix(ua.Load().(string), "Mozilla/5.0") || accept.Load() != "application/json" {
		t.Fatalf("headers: User-Agent %q, Accept %q; want a browser UA and application/json", ua.Load(), accept.Load())
	}

	_, err = r.Resolve(t.Context(), "nobody")
	if !errors.Is(err, ErrChannelNotFound) {
		t.Fatalf("unknown slug: error %v, want ErrChannelNotFound", err)
	}

	fake.BlockAPI(true)
	_, err = r.Resolve(t.Context(), "xqc")
	var be *BlockedError
	if !errors.As(err, &be) || be.Status != http.StatusForbidden {
		t.Fatalf("blocked: error %v, want a BlockedError with 403", err)
	}
	for _, want := range []string{"Cloudflare", "chatroom_id", "https://kick.com/api/v2/channels/xqc", `"chatroom":{"id":`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("blocked error %q lacks %q", err, want)
		}
	}
}

func TestResolver_Errors(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		header  map[string]string
		body    string
		maxBody int64
		check   func(error) bool
	}{
		{name: "server error", status: 502, body: "bad gateway", check: func(err error) bool {
			var se *StatusError
			return errors.As(err, &se) && se.Status == 502
		}},
		{name: "challenge on 503", status: 503, header: map[string]string{"Content-Type": "text/html"}, body: "<title>Just a moment...</title>", check: func(err error) bool {
			var be *BlockedError
			return errors.As(err, &be)
		}},
		{name: "cf-mitigated header", status: 200, header: map[string]string{"Cf-Mitigated": "challenge"}, body: "<html>", check: func(err error) bool {
			var be *BlockedError
			return errors.As(err, &be)
		}},
		{name: "oversized body", status: 200, body: `{"id":1,"chatroom":{"id":2},"pad":"` + strings.Repeat("x", 2000) + `"}`, maxBody: 1000, check: func(err error) bool {
			return err != nil && strings.Contains(err.Error(), "over 1000 bytes")
		}},
		{name: "html on 200", status: 200, body: "<html></html>", check: func(err error) bool {
			return err != nil && strings.Contains(err.Error(), "decode response")
		}},
		{name: "no chatroom", status: 200, body: `{"id":1,"chatroom":null}`, check: func(err error) bool {
			return err != nil && strings.Contains(err.Error(), "no chatroom.id")
		}},
		{name: "chatroom id wrong type", status: 200, body: `{"id":1,"chatroom":{"id":"2"}}`, check: func(err error) bool {
			return err != nil && strings.Contains(err.Error(), "decode response")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tt.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(tt.body))
			}))
			t.Cleanup(srv.Close)
			r := NewResolver(ResolverOptions{APIURL: srv.URL, MaxBodyBytes: tt.maxBody})
			_, err := r.Resolve(t.Context(), "somebody")
			if !tt.check(err) {
				t.Fatalf("error = %v", err)
			}
		})
	}
}

func TestResolver_BadSlugMakesNoRequest(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	t.Cleanup(srv.Close)
	r := NewResolver(ResolverOptions{APIURL: srv.URL})
	for _, slug := range []string{"", "../admin", "a b", "x?y=1", "é", strings.Repeat("a", 65), "a/b"} {
		if _, err := r.Resolve(t.Context(), slug); !errors.Is(err, ErrBadSlug) {
			t.Errorf("Resolve(%q) error = %v, want ErrBadSlug", slug, err)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("requests = %d, want 0", n)
	}
}
