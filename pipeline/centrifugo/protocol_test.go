package centrifugo

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestNextLine(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"{}", []string{"{}"}},
		{"{}\n", []string{"{}"}},
		{"{\"id\":1}\n{}\n{\"push\":{}}", []string{`{"id":1}`, "{}", `{"push":{}}`}},
		{"a\r\n\r\n b \n", []string{"a", "", "b"}},
		{"\n\n", []string{"", ""}},
	}
	for _, tt := range tests {
		var got []string
		for b := []byte(tt.in); len(b) > 0; {
			var line []byte
			line, b = nextLine(b)
			got = append(got, string(line))
		}
		if strings.Join(got, "|") != strings.Join(tt.want, "|") || len(got) != len(tt.want) {
			t.Errorf("lines of %q = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestCountPings(t *testing.T) {
	tests := []struct {
		in     string
		pings  int
		others bool
	}{
		{"{}", 1, false},
		{"{}\n{}", 2, false},
		{"{}\n{\"id\":1,\"subscribe\":{}}", 1, true},
		{"{ }", 0, true}, // not the ping Centrifugo sends; decoded (and reported) instead
		{"\n", 0, false},
		{`{"push":{}}`, 0, true},
	}
	for _, tt := range tests {
		pings, others := countPings([]byte(tt.in))
		if pings != tt.pings || others != tt.others {
			t.Errorf("countPings(%q) = %d, %v, want %d, %v", tt.in, pings, others, tt.pings, tt.others)
		}
	}
}

func TestDecodeEvent(t *testing.T) {
	tests := []struct {
		name, in       string
		wantName       string
		wantData       string
		wantErrReason  string
		wantDecodeFail bool
	}{
		{"string data", `{"event":"App\\Events\\ChatMessageEvent","data":"{\"id\":\"1\"}"}`, `App\Events\ChatMessageEvent`, `{"id":"1"}`, "", false},
		{"object data", `{"data":{"id":"1"},"event":"ChatMessageEvent"}`, "ChatMessageEvent", `{"id":"1"}`, "", false},
		{"tags beside", `{"tags":{"k":"v"},"event":"E","data":" {\"a\":[1,2]} "}`, "E", `{"a":[1,2]}`, "", false},
		{"no event", `{"data":"{}"}`, "", "", "type", true},
		{"long event", `{"event":"` + strings.Repeat("E", 300) + `","data":"{}"}`, "", "", "type", true},
		{"no data", `{"event":"E"}`, "", "", "type", true},
		{"null data", `{"event":"E","data":null}`, "", "", "type", true},
		{"number data", `{"event":"E","data":7}`, "", "", "type", true},
		{"string not object", `{"event":"E","data":"[1]"}`, "", "", "type", true},
		{"string bad json", `{"event":"E","data":"{\"a\""}`, "", "", "json", true},
		{"not an object", `"E"`, "", "", "type", true},
		{"broken", `{"event":`, "", "", "json", true},
	}
	for _, tt := range tests {
		name, data, err := decodeEvent([]byte(tt.in))
		if tt.wantDecodeFail {
			var de *decodeError
			if !errors.As(err, &de) || de.reason != tt.wantErrReason {
				t.Errorf("%s: err %v, want reason %q", tt.name, err, tt.wantErrReason)
			}
			continue
		}
		if err != nil || name != tt.wantName || string(data) != tt.wantData {
			t.Errorf("%s: = %q, %s, %v, want %q, %s", tt.name, name, data, err, tt.wantName, tt.wantData)
		}
	}
}

func TestParseChannel(t *testing.T) {
	for in, want := range map[string]int64{
		"chatrooms.123.v2": 123, "chatrooms.1.v2": 1, "chatrooms.9007199254740993.v2": 9007199254740993,
		"chatrooms.0.v2": 0, "chatrooms.-1.v2": 0, "chatrooms.+1.v2": 0, "chatrooms..v2": 0, "chatrooms.12.v1": 0, "chatrooms.01.v2": 0, "chatrooms. 1.v2": 0,
		"chatroom_12": 0, "channel.12": 0, "chatrooms.12": 0, "chatrooms.99999999999999999999.v2": 0, "": 0,
	} {
		got, ok := parseChannel(in)
		if got != want || ok != (want > 0) {
			t.Errorf("parseChannel(%q) = %d, %v, want %d", in, got, ok, want)
		}
	}
	if got := ChannelName(123); got != "chatrooms.123.v2" {
		t.Errorf("ChannelName(123) = %q", got)
	}
}

func TestAppendCommand(t *testing.T) {
	var b []byte
	b = appendCommand(b, command{ID: 1, Connect: &connectRequest{Token: "t", Name: "js"}})
	b = appendCommand(b, command{ID: 2, Subscribe: &subscribeRequest{Channel: "chatrooms.1.v2"}})
	b = appendCommand(b, command{ID: 3, Unsubscribe: &unsubscribeRequest{Channel: "chatrooms.1.v2"}})
	b = appendCommand(b, command{ID: 4, Refresh: &refreshRequest{Token: "u"}})
	want := `{"connect":{"token":"t","name":"js"},"id":1}` + "\n" +
		`{"subscribe":{"channel":"chatrooms.1.v2","flag":0},"id":2}` + "\n" +
		`{"unsubscribe":{"channel":"chatrooms.1.v2"},"id":3}` + "\n" +
		`{"refresh":{"token":"u"},"id":4}`
	if string(b) != want {
		t.Errorf("commands\n%s\nwant\n%s", b, want)
	}
}

func TestDisconnectError_Terminal(t *testing.T) {
	for code, want := range map[int]bool{
		0: false, 1000: false, 1006: false, 2999: false, 3000: false, 3005: false, 3012: false, 3499: false,
		3500: true, 3504: true, 3999: true, 4000: false, 4499: false, 4500: true, 4501: true, 4999: true, 5000: false,
	} {
		e := &DisconnectError{Code: code, Reason: "r\nx"}
		if e.Terminal() != want {
			t.Errorf("code %d: terminal %v, want %v", code, e.Terminal(), want)
		}
		if strings.ContainsAny(e.Error(), "\n") {
			t.Errorf("code %d: error %q carries a control character", code, e.Error())
		}
	}
}

func TestDefaultBackoffs(t *testing.T) {
	b := DefaultBackoff()
	for i, base := range []time.Duration{1, 2, 4, 8, 16, 30, 30, 30} {
		d := b.NextBackOff()
		if lo, hi := base*time.Second*3/4, base*time.Second*5/4; d < lo || d > hi {
			t.Errorf("ordinary wait %d = %v, want %v to %v", i+1, d, lo, hi)
		}
	}
	b.Reset()
	if d := b.NextBackOff(); d > 1250*time.Millisecond {
		t.Errorf("after Reset: %v, want about 1 s", d)
	}
	tb := DefaultTerminalBackoff()
	for round := range 2 {
		for i, base := range []time.Duration{5, 10, 20, 30, 30, 30, 30, 30, 30, 30, 30, 30} {
			d := tb.NextBackOff()
			if lo, hi := base*time.Minute, base*time.Minute*5/4; d < lo || d > hi {
				t.Errorf("round %d terminal wait %d = %v, want %v to %v", round, i+1, d, lo, hi)
			}
		}
		tb.Reset()
	}
}

func TestURLPolicy(t *testing.T) {
	tests := []struct {
		url      string
		loopback bool
		ok       bool
	}{
		{"wss://realtime.us-east-1.platform.kick.com/connection/websocket", false, true},
		{"wss://realtime.us-west-2.platform.kick.com/connection/websocket", false, true},
		{"wss://realtime.platform.kick.com/connection/websocket", false, true},
		{"wss://REALTIME.platform.KICK.com/connection/websocket", false, true},
		{"wss://realtime.platform.kick.com:443/connection/websocket", false, true},
		{"ws://realtime.platform.kick.com/connection/websocket", false, false},
		{"https://realtime.platform.kick.com/connection/websocket", false, false},
		{"wss://kick.com.evil.example/connection/websocket", false, false},
		{"wss://evilkick.com/connection/websocket", false, false},
		{"wss://kick.com/connection/websocket", false, false}, // ".kick.com" means a sub-domain
		{"wss://realtime.platform.kick.com./connection/websocket", false, false},
		{"wss://user:pw@realtime.platform.kick.com/connection/websocket", false, false},
		{"wss://realtime.platform.kick.com/connection/websocket?token=x", false, false},
		{"wss://realtime.platform.kick.com/connection/websocket#f", false, false},
		{"wss://realtime.platform.kick.com/connection/websocket\r\nX-Evil: 1", false, false},
		{"wss://realtime.platform.kick.com/connection/websocket\n", false, false},
		{"wss://realtime.platform.kick.com/connection/websocket/", false, false},
		{"wss://realtime.platform.kick.com/connection/uni_websocket", false, false},
		{"wss://realtime.platform.kick.com/connection/%77ebsocket", false, false},
		{"wss://realtime.platform.kick.com:8443/connection/websocket", false, false},
		{"wss://1.2.3.4/connection/websocket", false, false},
		{"wss://realtime.platform.kick.com", false, false},
		{"", false, false},
		{"ws://127.0.0.1:8000/connection/websocket", false, false},
		{"ws://127.0.0.1:8000/connection/websocket", true, true},
		{"ws://localhost:8000/connection/websocket", true, true},
		{"ws://[::1]:8000/connection/websocket", true, true},
		{"ws://10.0.0.1:8000/connection/websocket", true, false},
		{"http://127.0.0.1:8000/connection/websocket", true, false},
	}
	for _, tt := range tests {
		_, err := URLPolicy{AllowLoopback: tt.loopback}.Validate(tt.url)
		if (err == nil) != tt.ok {
			t.Errorf("Validate(%q, loopback %v) = %v, want ok %v", tt.url, tt.loopback, err, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrBadURL) {
			t.Errorf("Validate(%q) error %v, want ErrBadURL", tt.url, err)
		}
	}
	p := URLPolicy{AllowedHosts: []string{"chat.example.org", ".example.net"}}
	for url, want := range map[string]bool{
		"wss://chat.example.org/connection/websocket":   true,
		"wss://x.chat.example.org/connection/websocket": false,
		"wss://a.example.net/connection/websocket":      true,
		"wss://example.net/connection/websocket":        false,
		"wss://realtime.kick.com/connection/websocket":  false,
	} {
		if _, err := p.Validate(url); (err == nil) != want {
			t.Errorf("AllowedHosts: Validate(%q) = %v, want ok %v", url, err, want)
		}
	}
}

func TestTruncate(t *testing.T) {
	if got := truncate("ab\x00c\ndé", 100); got != "abcdé" {
		t.Errorf("truncate = %q", got)
	}
	if got := truncate(strings.Repeat("x", 50), 10); got != strings.Repeat("x", 10) {
		t.Errorf("truncate = %q", got)
	}
	if got := truncate("aé", 2); got != "a" {
		t.Errorf("truncate split a character: %q", got)
	}
}
