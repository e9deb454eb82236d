package app

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"kickwatch/pipeline/kick"
	"kickwatch/pipeline/kick/kickfake"
)

// chatData is a ChatMessageEvent payload for chatroom room.
func chatData(id string, room int64, sender, content string) []byte {
	return fmt.Appendf(nil, `{"id":%q,"chatroom_id":%d,"content":%q,"type":"message","created_at":"2026-11-25T10:00:00+00:00",`+
		`"sender":{"id":77,"username":%q,"slug":%q,"identity":{"color":"#FFFFFF","badges":[]}}}`,
		id, room, content, sender, strings.ToLower(sender))
}

func TestRun_ReloadAppliesValidConfigAndRejectsInvalid(t *testing.T) {
	fake := kickfake.New(kickfake.Options{})
	srv := httptest.NewServer(fake.Handler())
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	path := filepath.Join(dir, "config.toml")
	base := fmt.Sprintf("[kick]\nusername = \"me\"\ndemo = false\ntransport = \"pusher\"\nws_url = %q\n", fake.SocketURL(srv.URL)) +
		fmt.Sprintf("[store]\npath = %q\n[http]\nlisten = \"\"\n[log]\nformat = \"json\"\n", filepath.Join(dir, "k.db"))
	channel := func(slug string, id int) string {
		return fmt.Sprintf("[[kick.channels]]\nslug = %q\nchatroom_id = %d\n", slug, id)
	}
	write := func(text string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(base + channel("alpha", 1))

	c := newCLI(t)
	reload := make(chan struct{})
	env := c.Env()
	env.Reload = reload
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan int, 1)
	go func() { done <- Main(ctx, []string{"run", "-config", path}, env) }()
	defer func() {
		cancel()
		if code := <-done; code != ExitOK {
			t.Errorf("exit code %d", code)
		}
	}()
	wctx, wcancel := context.WithTimeout(t.Context(), 20e9)
	defer wcancel()
	if err := fake.WaitSubscribed(wctx, 1); err != nil {
		t.Fatal(err)
	}

	// A valid reload: a new channel on the live socket, a keyword rule.
	write(base + channel("alpha", 1) + channel("beta", 2) + "[[match.rules]]\nname = \"food\"\nkeyword = \"pizza\"\n")
	reload <- struct{}{}
	if err := fake.WaitSubscribed(wctx, 2); err != nil {
		t.Fatal(err)
	}
	fake.Publish(2, kick.EventChatMessage, chatData("r-1", 2, "bob", "who wants pizza"))
	waitFor(t, "the keyword match on the new channel", func() bool { return strings.Contains(c.stdout.String(), "who wants pizza") })
	if got := fake.Stats().Connections; got != 1 {
		t.Errorf("connections = %d, want 1: channels must change on the live socket", got)
	}

	// An invalid reload is rejected whole; the running config stays.
	write(base + "[store]\noutbox_cap_per_channel = 0\n")
	reload <- struct{}{}
	waitFor(t, "the rejection", func() bool {
		_, ok := logLine(c.stderr.String(), "reload rejected; the running config stays in force")
		return ok
	})
	fake.Publish(2, kick.EventChatMessage, chatData("r-2", 2, "carol", "more pizza please"))
	waitFor(t, "a match under the old config", func() bool { return strings.Contains(c.stdout.String(), "more pizza please") })
	if !fake.IsSubscribed(1) || !fake.IsSubscribed(2) {
		t.Error("a rejected reload changed the subscriptions")
	}

	// Removing a channel unsubscribes it on the live socket.
	write(base + channel("beta", 2))
	reload <- struct{}{}
	if err := fake.WaitUnsubscribed(wctx, 1); err != nil {
		t.Fatal(err)
	}
	if !fake.IsSubscribed(2) {
		t.Error("channel beta lost its subscription")
	}
}

// TestRun_AutoTransportFallsBackToPusher: when Kick's realtime negotiation
// cannot be reached, "auto" reads chat over Pusher at kick.ws_url.
func TestRun_AutoTransportFallsBackToPusher(t *testing.T) {
	fake := kickfake.New(kickfake.Options{})
	srv := httptest.NewServer(fake.Handler())
	t.Cleanup(srv.Close)
	dead := httptest.NewServer(nil)
	deadURL := strings.Replace(dead.URL, "http://", "https://", 1) + "/api/v1/realtime"
	dead.Close()
	dir := t.TempDir()
	path := filepath.Join(dir, "config.toml")
	text := fmt.Sprintf("[kick]\nusername = \"me\"\ndemo = false\ntransport = \"auto\"\nws_url = %q\nrealtime_url = %q\n", fake.SocketURL(srv.URL), deadURL) +
		"[[kick.channels]]\nslug = \"alpha\"\nchatroom_id = 1\n" +
		fmt.Sprintf("[store]\npath = %q\n[http]\nlisten = \"\"\n[log]\nformat = \"json\"\n", filepath.Join(dir, "k.db"))
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
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
	wctx, wcancel := context.WithTimeout(t.Context(), 30e9)
	defer wcancel()
	if err := fake.WaitSubscribed(wctx, 1); err != nil {
		t.Fatalf("no Pusher subscription after a failed negotiation: %v\n%s", err, c.stderr.String())
	}
	fake.Publish(1, kick.EventChatMessage, chatData("auto-1", 1, "bob", "hello @me"))
	waitFor(t, "the mention over the fallback", func() bool { return strings.Contains(c.stdout.String(), "hello @me") })
}
