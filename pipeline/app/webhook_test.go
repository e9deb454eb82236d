package app

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"kickwatch/pipeline/kickhook/kickhookfake"
)

const hookBody = `{"message_id":"hook-msg-1","broadcaster":{"is_anonymous":false,"user_id":2346570,"username":"Some_Streamer",` +
	`"is_verified":false,"profile_picture":"","channel_slug":"some-streamer","identity":null},"sender":{"is_anonymous":false,` +
	`"user_id":4815162,"username":"Viewer_One","is_verified":false,"profile_picture":"","channel_slug":"viewer-one",` +
	`"identity":null},"content":"hey @me the webhook works","emotes":null,"created_at":"2026-11-25T07:07:44Z"}`

func TestRun_WebhookReceiverDeliversSignedMentions(t *testing.T) {
	key, err := kickhookfake.TestKey()
	if err != nil {
		t.Fatal(err)
	}
	pub := filepath.Join("..", "kickhook", "testdata", "test_public_key.pem")
	abs, err := filepath.Abs(pub)
	if err != nil {
		t.Fatal(err)
	}
	path, _ := writeConfig(t, fmt.Sprintf(`
[kick]
username = "me"
demo = false
[kick.webhook]
enabled = true
listen = "127.0.0.1:0"
public_key_file = %q
[http]
listen = ""
[log]
format = "json"
`, abs), "")
	c := newCLI(t)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan int, 1)
	go func() { done <- c.run(ctx, "run", "-config", path) }()
	defer func() {
		cancel()
		if code := <-done; code != ExitOK {
			t.Errorf("exit code %d:\n%s", code, c.stderr.String())
		}
	}()
	var url string
	waitFor(t, "the webhook listener", func() bool {
		up, ok := logLine(c.stderr.String(), "kick webhook receiver up")
		if ok {
			url = "http://" + up["addr"].(string) + up["path"].(string)
		}
		return ok
	})
	s := &kickhookfake.Sender{Key: key, URL: url}
	status, _, err := s.Send(t.Context(), kickhookfake.Delivery{Body: []byte(hookBody)})
	if err != nil || status != http.StatusOK {
		t.Fatalf("signed delivery: %d, %v", status, err)
	}
	waitFor(t, "the webhook mention on the console", func() bool {
		return strings.Contains(c.stdout.String(), "hey @me the webhook works")
	})
	// A tampered delivery is refused and nothing more is printed.
	bad := strings.Replace(hookBody, "hook-msg-1", "hook-msg-2", 1)
	d, err := s.Complete(kickhookfake.Delivery{Body: []byte(hookBody)})
	if err != nil {
		t.Fatal(err)
	}
	d.Body = []byte(bad)
	if status, _, _ := s.Send(t.Context(), d); status != http.StatusUnauthorized {
		t.Errorf("tampered delivery: %d, want 401", status)
	}
}

func TestWebhookVerbs(t *testing.T) {
	const secret = "client-SeCrEt-0123456789"
	api := kickhookfake.NewAPI(kickhookfake.APIOptions{ClientID: "cid", ClientSecret: secret,
		Channels: map[string]int64{"some-streamer": 2346570}})
	t.Cleanup(api.Close)
	old := kickAPI
	kickAPI = apiURLs{token: api.TokenURL(), api: api.APIURL()}
	t.Cleanup(func() { kickAPI = old })
	path, _ := writeConfig(t, "[kick]\nusername = \"me\"\ndemo = false\n[[kick.channels]]\nslug = \"some-streamer\"\nchatroom_id = 5\n", "")

	c := newCLI(t)
	c.env["KICKWATCH_KICK_CLIENT_ID"] = "cid"
	c.env["KICKWATCH_KICK_CLIENT_SECRET"] = secret
	if code := c.run(t.Context(), "webhook", "subscribe", "-config", path); code != ExitOK {
		t.Fatalf("subscribe: code %d\n%s%s", code, c.stdout.String(), c.stderr.String())
	}
	if subs := api.Subscriptions(); len(subs) != 1 || subs[0].BroadcasterUserID != 2346570 || subs[0].Event != "chat.message.sent" {
		t.Fatalf("subscriptions = %+v", subs)
	}
	id := api.Subscriptions()[0].ID

	c2 := newCLI(t)
	c2.env = c.env
	if code := c2.run(t.Context(), "webhook", "list", "-config", path); code != ExitOK || !strings.Contains(c2.stdout.String(), id) {
		t.Fatalf("list: code %d\n%s%s", code, c2.stdout.String(), c2.stderr.String())
	}

	c3 := newCLI(t)
	c3.env = c.env
	if code := c3.run(t.Context(), "webhook", "subscribe", "-config", path, "nosuchchannel"); code != ExitRuntime ||
		!strings.Contains(c3.stdout.String(), "nosuchchannel") || !strings.Contains(c3.stdout.String(), "FAIL") {
		t.Errorf("subscribe to an unknown channel: code %d\n%s", code, c3.stdout.String())
	}

	c4 := newCLI(t)
	c4.env = c.env
	if code := c4.run(t.Context(), "webhook", "unsubscribe", "-config", path, id); code != ExitOK || len(api.Subscriptions()) != 0 {
		t.Errorf("unsubscribe: code %d, %d left\n%s", code, len(api.Subscriptions()), c4.stderr.String())
	}

	c5 := newCLI(t)
	if code := c5.run(t.Context(), "webhook", "list", "-config", path); code != ExitUsage {
		t.Errorf("no credentials: code %d, want %d", code, ExitUsage)
	}
	for _, cl := range []*cli{c, c2, c3, c4} {
		if strings.Contains(cl.stdout.String()+cl.stderr.String(), secret) {
			t.Error("the client secret appears in the output")
		}
	}
}

func TestCheckProbe_ComparesWebhookKey(t *testing.T) {
	pemPath, err := filepath.Abs(filepath.Join("..", "kickhook", "testdata", "test_public_key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pem := []byte(readFile(t, pemPath))
	api := kickhookfake.NewAPI(kickhookfake.APIOptions{PublicKeyPEM: pem})
	t.Cleanup(api.Close)
	old := kickAPI
	kickAPI = apiURLs{token: api.TokenURL(), api: api.APIURL()}
	t.Cleanup(func() { kickAPI = old })
	for _, tt := range []struct {
		keyFile string
		code    int
		want    string
	}{
		{pemPath, ExitOK, "Kick's published key matches"},
		{"", ExitRuntime, "kick publishes a different key"}, // the built-in key is Kick's real one
	} {
		path, _ := writeConfig(t, fmt.Sprintf("[kick]\nusername = \"me\"\ndemo = false\n[kick.webhook]\nenabled = true\npublic_key_file = %q\n[http]\nlisten = \"\"\n", tt.keyFile), "")
		c := newCLI(t)
		if code := c.run(t.Context(), "check", "-probe", "-config", path); code != tt.code || !strings.Contains(c.stdout.String(), tt.want) {
			t.Errorf("key file %q: code %d, want %d with %q:\n%s%s", tt.keyFile, code, tt.code, tt.want, c.stdout.String(), c.stderr.String())
		}
	}
}
