package discord

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"kickwatch/pipeline/discord/discordfake"
)

func TestProbe(t *testing.T) {
	e := newEnv(t, discordfake.Options{}, Options{})
	got, err := e.sink.Probe(t.Context())
	if err != nil || got.Name != "kickwatch" || got.ChannelID == "" {
		t.Fatalf("Probe = %+v, %v; want the webhook object", got, err)
	}
	for _, r := range e.fake.Requests() {
		if r.Method != http.MethodGet {
			t.Errorf("probe sent %s %s: it must not post", r.Method, r.Path)
		}
	}

	wrong := newEnv(t, discordfake.Options{}, Options{})
	bad := strings.Replace(wrong.fake.WebhookURL(), secretToken, secretToken+"x", 1)
	s, err := New(Options{WebhookURL: bad})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Probe(t.Context())
	var se *StatusError
	if !errors.As(err, &se) || se.Status != http.StatusUnauthorized || se.Code != 50027 {
		t.Errorf("wrong token: %v, want 401 code 50027", err)
	}
	checkNoSecret(t, err, secretToken)

	e.fake.DeleteWebhook()
	_, err = e.sink.Probe(t.Context())
	if !errors.As(err, &se) || se.Status != http.StatusNotFound || !strings.Contains(err.Error(), "create a new webhook") {
		t.Errorf("deleted webhook: %v, want 404 naming the fix", err)
	}
	checkNoSecret(t, err, secretToken)
}
