package centrifugo

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"testing"
)

// Frames from the reference (§5), as Kick and a real Centrifugo send them.
var fuzzFrames = []string{
	`{}`,
	"{}\n{}",
	`{"id":1,"connect":{"client":"09509954-ce61-425c-830e-ddf869c35bd6","version":"0.0.0 OSS","expires":true,"ttl":40,"ping":6,"pong":true}}`,
	"{\"id\":2,\"subscribe\":{}}\n{\"id\":3,\"subscribe\":{}}",
	`{"id":4,"error":{"code":102,"message":"unknown channel"}}`,
	`{"id":5,"error":{"code":105,"message":"already subscribed"}}`,
	`{"push":{"channel":"chatrooms.123.v2","pub":{"data":{"data":"{\"id\":\"6d1c2f0e\",\"chatroom_id\":123,\"content\":\"hello [emote:37226:KEKW]\"}","event":"App\\Events\\ChatMessageEvent"}}}}`,
	`{"push":{"channel":"chatrooms.123.v2","pub":{"data":{"event":"App\\Events\\MessageDeletedEvent","data":"{}"},"tags":{"k":"v"}}}}`,
	`{"push":{"channel":"chatrooms.123.v2","pub":{"data":{"event":"ChatMessageEvent","data":{"id":"x","content":"@bob"}}}}}`,
	`{"id":6,"refresh":{"expires":true,"ttl":120}}`,
	`{"push":{"channel":"channel_456","unsubscribe":{"code":2000,"reason":"server unsubscribe"}}}`,
	`{"push":{"disconnect":{"code":3500,"reason":"invalid token","reconnect":false}}}`,
	`{"id":1,"error":{"code":109,"message":"token expired"}}`,
	"{\"push\":{\"channel\":\"chatrooms.9.v2\",\"pub\":{\"data\":{\"event\":\"E\",\"data\":\"\xff\"}}}}",
	"\r\n{}\r\n\n[1]\nnull",
}

// FuzzLines checks the line splitter: every line is trimmed and free of
// '\n', there is one per '\n'-separated segment, and countPings agrees.
func FuzzLines(f *testing.F) {
	for _, s := range fuzzFrames {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var lines [][]byte
		for rest := b; len(rest) > 0; {
			var line []byte
			line, rest = nextLine(rest)
			if bytes.IndexByte(line, '\n') >= 0 || len(bytes.TrimSpace(line)) != len(line) {
				t.Fatalf("line %q is not one trimmed line", line)
			}
			lines = append(lines, line)
		}
		want := bytes.Count(b, []byte("\n"))
		if len(b) > 0 && b[len(b)-1] != '\n' {
			want++
		}
		if len(lines) != want {
			t.Fatalf("%d lines from %q, want %d", len(lines), b, want)
		}
		pings, others := countPings(b)
		wantPings, wantOthers := 0, false
		for _, l := range lines {
			switch {
			case isPing(l):
				wantPings++
			case len(l) > 0:
				wantOthers = true
			}
		}
		if pings != wantPings || others != wantOthers {
			t.Fatalf("countPings(%q) = %d, %v, want %d, %v", b, pings, others, wantPings, wantOthers)
		}
	})
}

// FuzzPush runs a line through the decoder the session uses: frame, then
// channel and Kick's event envelope for a publication. It must never panic,
// and what it accepts must be what the handler is promised.
func FuzzPush(f *testing.F) {
	for _, s := range fuzzFrames {
		for rest := []byte(s); len(rest) > 0; {
			var line []byte
			line, rest = nextLine(rest)
			f.Add(line)
		}
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		fr, err := parseLine(line)
		if err != nil {
			var de *decodeError
			if !errors.As(err, &de) || de.reason == "" {
				t.Fatalf("parseLine error %v has no Malformed reason", err)
			}
			return
		}
		if fr.ID == 0 && fr.Push == nil {
			t.Fatalf("parseLine accepted %q: neither reply nor push", line)
		}
		if fr.Push == nil || fr.Push.Pub == nil {
			return
		}
		if id, ok := parseChannel(fr.Push.Channel); ok && (id <= 0 || ChannelName(id) != fr.Push.Channel) {
			t.Fatalf("parseChannel(%q) = %d, which does not name it back", fr.Push.Channel, id)
		}
		name, data, err := decodeEvent(fr.Push.Pub.Data)
		if err != nil {
			var de *decodeError
			if !errors.As(err, &de) {
				t.Fatalf("decodeEvent error %v has no Malformed reason", err)
			}
			return
		}
		if name == "" || len(name) > 256 {
			t.Fatalf("event name %q accepted", name)
		}
		if len(data) == 0 || data[0] != '{' || !json.Valid(data) {
			t.Fatalf("event data %q is not a JSON object", data)
		}
	})
}

// FuzzURLPolicy checks that whatever Validate accepts (a negotiated URL
// comes from the network) is a wss URL on a Kick sub-domain with the one
// WebSocket path and nothing else.
func FuzzURLPolicy(f *testing.F) {
	for _, s := range []string{
		"wss://realtime.us-east-1.platform.kick.com/connection/websocket",
		"wss://realtime.platform.kick.com:443/connection/websocket",
		"wss://kick.com.evil.example/connection/websocket",
		"wss://u:p@realtime.platform.kick.com/connection/websocket?x#y",
		"wss://realtime.platform.kick.com/connection/websocket\r\n",
		"ws://127.0.0.1:8000/connection/websocket",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := URLPolicy{}.Validate(raw)
		if err != nil {
			return
		}
		host := strings.ToLower(u.Hostname())
		if u.Scheme != "wss" || !strings.HasSuffix(host, ".kick.com") || u.Path != WebSocketPath ||
			u.User != nil || u.RawQuery != "" || u.Fragment != "" || strings.ContainsAny(raw, "\r\n\t ?#@\\") {
			t.Fatalf("Validate accepted %q", raw)
		}
		if p := u.Port(); p != "" && p != "443" {
			t.Fatalf("Validate accepted port %s in %q", p, raw)
		}
		if again, err := url.Parse(u.String()); err != nil || again.Host != u.Host {
			t.Fatalf("accepted %q does not round-trip", raw)
		}
	})
}

// FuzzConnections checks the negotiation response parser: a Centrifugo
// selection always carries a URL the policy accepts.
func FuzzConnections(f *testing.F) {
	for _, s := range []string{
		offerCentrifugo, offerPusher,
		offer(`{"provider":"pusher","credentials":{"app_key":"k","cluster":"us2"}}`, centrifugoConn("wss://realtime.us-west-2.platform.kick.com/connection/websocket")),
		offer(centrifugoConn("wss://evil.example/connection/websocket")),
		`{"data":{"connections":[{"provider":"centrifugo","credentials":null}]}}`,
		`{"data":{"connections":null}}`,
	} {
		f.Add([]byte(s))
	}
	a := &API{}
	f.Fuzz(func(t *testing.T, body []byte) {
		sel, err := a.parseConnections(body, []string{ProviderPusher, ProviderCentrifugo})
		if err != nil {
			return
		}
		switch sel.Provider {
		case ProviderCentrifugo:
			if _, err := (URLPolicy{}).Validate(sel.URL); err != nil {
				t.Fatalf("selected URL %q fails the policy: %v", sel.URL, err)
			}
		case ProviderPusher:
			if !token(sel.PusherKey, 64) && sel.PusherKey != "" || !token(sel.PusherCluster, 32) && sel.PusherCluster != "" {
				t.Fatalf("pusher selection %+v carries unchecked strings", sel)
			}
		default:
			t.Fatalf("selected provider %q", sel.Provider)
		}
	})
}
