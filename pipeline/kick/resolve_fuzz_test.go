package kick

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"
)

type cannedRT struct {
	status int
	header http.Header
	body   []byte
}

func (c cannedRT) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: c.status, Header: c.header, Body: io.NopCloser(bytes.NewReader(c.body)), Request: r}, nil
}

// FuzzResolve feeds Kick API answers to the slug resolver: an error or a
// positive chatroom id, never a panic.
func FuzzResolve(f *testing.F) {
	f.Add(200, "application/json", `{"id":668,"slug":"xqc","chatroom":{"id":668,"channel_id":668}}`)
	f.Add(200, "application/json", `{"id":"668","chatroom":{"id":"x"}}`)
	f.Add(403, "text/html", `<!DOCTYPE html><title>Just a moment...</title>`)
	f.Add(404, "application/json", `{"message":"Not Found"}`)
	f.Add(200, "application/json", `{"chatroom":null}`)
	f.Fuzz(func(t *testing.T, status int, ctype, body string) {
		if status < 100 || status > 999 {
			return
		}
		r := NewResolver(ResolverOptions{APIURL: "https://kick.com/api/v2", MaxBodyBytes: 1 << 16,
			HTTPClient: &http.Client{Transport: cannedRT{status, http.Header{"Content-Type": {ctype}}, []byte(body)}}})
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		ch, err := r.Resolve(ctx, "somechannel")
		if err == nil && ch.ChatroomID <= 0 {
			t.Fatalf("no error and chatroom id %d", ch.ChatroomID)
		}
		var be *BlockedError
		if errors.As(err, &be) && be.Slug != "somechannel" {
			t.Errorf("blocked error names %q", be.Slug)
		}
	})
}
