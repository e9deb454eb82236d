package kickhook_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"kickwatch/pipeline/kickhook"
	"kickwatch/pipeline/kickhook/kickhookfake"
)

const (
	testClientID     = "01FAKECLIENTID"
	testClientSecret = "s3cr3t-client-secret-value"
)

func newFakeAPI(t *testing.T, mod func(*kickhookfake.APIOptions)) (*kickhookfake.API, *kickhook.APIClient) {
	t.Helper()
	o := kickhookfake.APIOptions{
		ClientID:     testClientID,
		ClientSecret: testClientSecret,
		Channels:     map[string]int64{"some-streamer": 2346570, "other": 777},
		PublicKeyPEM: kickhook.DefaultPublicKeyPEM(),
	}
	if mod != nil {
		mod(&o)
	}
	api := kickhookfake.NewAPI(o)
	t.Cleanup(api.Close)
	c := kickhook.NewAPIClient(kickhook.APIOptions{
		ClientID:     testClientID,
		ClientSecret: testClientSecret,
		TokenURL:     api.TokenURL(),
		APIURL:       api.APIURL(),
	})
	return api, c
}

// noSecrets fails if err's text carries the client secret or a token.
func noSecrets(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if s := err.Error(); strings.Contains(s, testClientSecret) || strings.Contains(s, "fake-app-token-") {
		t.Errorf("error leaks a secret: %s", s)
	}
}

func TestAPIClient_SubscribeListUnsubscribe(t *testing.T) {
	api, c := newFakeAPI(t, nil)
	existing := api.AddSubscription(777, kickhook.EventChatMessageSent)

	res, err := c.Subscribe(t.Context(), []string{"Some-Streamer", "other", "nobody"}, "")
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	if got, want := len(res), 3; got != want {
		t.Fatalf("results=%d, want %d: %+v", got, want, res)
	}
	if r := res[0]; r.Err != nil || r.SubscriptionID == "" || r.Existing || r.BroadcasterUserID != 2346570 || r.Event != "chat.message.sent" {
		t.Errorf("new subscription: %+v", r)
	}
	if r := res[1]; r.Err != nil || !r.Existing || r.SubscriptionID != existing {
		t.Errorf("existing subscription: %+v, want existing %s", r, existing)
	}
	if r := res[2]; !errors.Is(r.Err, kickhook.ErrChannelNotFound) {
		t.Errorf("unknown slug: err=%v, want ErrChannelNotFound", r.Err)
	}
	if got, want := len(api.Subscriptions()), 2; got != want {
		t.Errorf("fake holds %d subscriptions, want %d", got, want)
	}

	subs, err := c.List(t.Context())
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	if got, want := len(subs), 2; got != want {
		t.Fatalf("listed %d, want %d", got, want)
	}
	if s := subs[0]; s.ID != existing || s.BroadcasterUserID != 777 || s.Event != "chat.message.sent" ||
		s.Version != 1 || s.Method != "webhook" || s.CreatedAt.IsZero() {
		t.Errorf("listed %+v", s)
	}

	if err := c.Unsubscribe(t.Context(), []string{existing, res[0].SubscriptionID}); err != nil {
		t.Fatalf("unsubscribe: %v", err)
	}
	if got := len(api.Subscriptions()); got != 0 {
		t.Errorf("fake holds %d subscriptions after unsubscribe, want 0", got)
	}
	if got, want := api.TokenRequests(), 1; got != want {
		t.Errorf("token requests=%d, want %d (the token is cached)", got, want)
	}
}

func TestAPIClient_WebhooksNotEnabled(t *testing.T) {
	api, c := newFakeAPI(t, nil)
	api.SetWebhooksDisabled(true)
	res, err := c.Subscribe(t.Context(), []string{"some-streamer"}, kickhook.EventChatMessageSent)
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	if len(res) != 1 || res[0].Err == nil {
		t.Fatalf("results %+v, want one item error", res)
	}
	var ie *kickhook.ItemError
	if !errors.As(res[0].Err, &ie) {
		t.Fatalf("err %T, want *ItemError", res[0].Err)
	}
	msg := res[0].Err.Error()
	for _, want := range []string{"webhooks are not enabled for this Kick app", "https://kick.com/settings/developer", `"some-streamer"`} {
		if !strings.Contains(msg, want) {
			t.Errorf("item error %q lacks %q", msg, want)
		}
	}
}

func TestAPIClient_Errors(t *testing.T) {
	t.Run("wrong secret", func(t *testing.T) {
		api, _ := newFakeAPI(t, nil)
		c := kickhook.NewAPIClient(kickhook.APIOptions{ClientID: testClientID, ClientSecret: testClientSecret + "x",
			TokenURL: api.TokenURL(), APIURL: api.APIURL()})
		_, err := c.List(t.Context())
		var ae *kickhook.APIError
		if !errors.As(err, &ae) || ae.Status != http.StatusBadRequest {
			t.Fatalf("err=%v, want APIError 400", err)
		}
		if !strings.Contains(err.Error(), "check client_id and client_secret") {
			t.Errorf("error %q does not say what to fix", err)
		}
		noSecrets(t, err)
	})
	t.Run("no credentials", func(t *testing.T) {
		api, _ := newFakeAPI(t, nil)
		c := kickhook.NewAPIClient(kickhook.APIOptions{TokenURL: api.TokenURL(), APIURL: api.APIURL()})
		if _, err := c.Subscribe(t.Context(), []string{"other"}, ""); !errors.Is(err, kickhook.ErrNoCredentials) {
			t.Fatalf("err=%v, want ErrNoCredentials", err)
		}
	})
	t.Run("missing scope", func(t *testing.T) {
		api, c := newFakeAPI(t, nil)
		api.SetMissingScope(true)
		_, err := c.Subscribe(t.Context(), []string{"other"}, "")
		var ae *kickhook.APIError
		if !errors.As(err, &ae) || ae.Status != http.StatusForbidden || !strings.Contains(err.Error(), "events:subscribe") {
			t.Fatalf("err=%v, want a 403 naming the events:subscribe scope", err)
		}
		noSecrets(t, err)
	})
	t.Run("bad slug", func(t *testing.T) {
		_, c := newFakeAPI(t, nil)
		if _, err := c.Subscribe(t.Context(), []string{"no/slashes"}, ""); err == nil {
			t.Fatal("no error for an invalid slug")
		}
	})
	t.Run("no ids", func(t *testing.T) {
		_, c := newFakeAPI(t, nil)
		if err := c.Unsubscribe(t.Context(), nil); err == nil {
			t.Fatal("no error for no ids")
		}
	})
	t.Run("unreachable", func(t *testing.T) {
		ts := httptest.NewServer(http.NotFoundHandler())
		ts.Close()
		c := kickhook.NewAPIClient(kickhook.APIOptions{ClientID: testClientID, ClientSecret: testClientSecret,
			TokenURL: ts.URL + "/oauth/token?client_secret=" + testClientSecret, APIURL: ts.URL})
		_, err := c.List(t.Context())
		if err == nil {
			t.Fatal("no error for a closed server")
		}
		noSecrets(t, err)
		if strings.Contains(err.Error(), ts.URL) {
			t.Errorf("error %q carries the URL", err)
		}
	})
}

// A revoked token is refreshed once, transparently.
func TestAPIClient_TokenRefresh(t *testing.T) {
	api, c := newFakeAPI(t, func(o *kickhookfake.APIOptions) { o.ExpiresInString = true })
	if _, err := c.List(t.Context()); err != nil {
		t.Fatal(err)
	}
	api.RevokeTokens()
	if _, err := c.List(t.Context()); err != nil {
		t.Fatalf("list after revoke: %v", err)
	}
	if got, want := api.TokenRequests(), 2; got != want {
		t.Errorf("token requests=%d, want %d", got, want)
	}
}

func TestAPIClient_PublicKey(t *testing.T) {
	_, c := newFakeAPI(t, nil)
	k, pemBytes, err := c.PublicKey(t.Context())
	if err != nil {
		t.Fatalf("public key: %v", err)
	}
	if !k.Equal(defaultKey(t)) || len(pemBytes) == 0 {
		t.Error("fetched key differs from the embedded one")
	}
	// Without credentials the key is fetched anonymously.
	api, _ := newFakeAPI(t, nil)
	anon := kickhook.NewAPIClient(kickhook.APIOptions{TokenURL: api.TokenURL(), APIURL: api.APIURL()})
	if _, _, err := anon.PublicKey(t.Context()); err != nil {
		t.Fatalf("anonymous public key: %v", err)
	}
}

func TestAPIClient_ResponseLimit(t *testing.T) {
	big := strings.Repeat("x", 2<<10)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/oauth/token" {
			_, _ = w.Write([]byte(`{"access_token":"tok-abcdef","token_type":"Bearer","expires_in":3600}`))
			return
		}
		_, _ = w.Write([]byte(`{"data":[],"message":"` + big + `"}`))
	}))
	t.Cleanup(ts.Close)
	c := kickhook.NewAPIClient(kickhook.APIOptions{ClientID: testClientID, ClientSecret: testClientSecret,
		TokenURL: ts.URL + "/oauth/token", APIURL: ts.URL, MaxBodyBytes: 1 << 10})
	_, err := c.List(t.Context())
	if err == nil || !strings.Contains(err.Error(), "over 1024 bytes") {
		t.Fatalf("err=%v, want a size-limit error", err)
	}
}

// Kick's item error text is shown, but never a secret it might echo.
func TestItemError_Plain(t *testing.T) {
	tests := []struct {
		e    kickhook.ItemError
		want string
	}{
		{kickhook.ItemError{Slug: "a", Event: "chat.message.sent", Message: "webhooks are not enabled for app"}, "turn them on"},
		{kickhook.ItemError{Slug: "a", Event: "chat.message.sent"}, "no subscription id and no reason"},
		{kickhook.ItemError{Slug: "a", Event: "chat.message.sent", Message: "event limit reached"}, `subscribe "a" to chat.message.sent: event limit reached`},
	}
	for _, tt := range tests {
		if got := tt.e.Error(); !strings.Contains(got, tt.want) {
			t.Errorf("%q lacks %q", got, tt.want)
		}
	}
}

// An error body that echoes the secret or the token is redacted.
func TestAPIClient_RedactsEchoedSecrets(t *testing.T) {
	const tok = "tok-0123456789abcdef"
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/oauth/token" {
			_, _ = w.Write([]byte(`{"access_token":"` + tok + `","token_type":"Bearer","expires_in":3600}`))
			return
		}
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte(`{"message":"boom for ` + tok + ` and ` + testClientSecret + "\\n" + `line two"}`))
	}))
	t.Cleanup(ts.Close)
	c := kickhook.NewAPIClient(kickhook.APIOptions{ClientID: testClientID, ClientSecret: testClientSecret,
		TokenURL: ts.URL + "/oauth/token", APIURL: ts.URL})
	_, err := c.List(t.Context())
	if err == nil {
		t.Fatal("no error for a 500")
	}
	s := err.Error()
	if strings.Contains(s, tok) || strings.Contains(s, testClientSecret) || strings.Contains(s, "\n") {
		t.Errorf("error not redacted: %q", s)
	}
	if !strings.Contains(s, "HTTP 500") || !strings.Contains(s, "[redacted]") {
		t.Errorf("error %q, want the status and a redaction mark", s)
	}
}
